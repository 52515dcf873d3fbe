"""`sonar eval length`'s measurement on test doubles whose answer is known in advance."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from sonar.errors import UserError
from sonar.longctx.held_out import held_out_windows
from sonar.longctx.length import LengthEval, evaluate_length

V, EOT = 64, 63


class ContextBlind(nn.Module):
    """Logits from the current token alone: every position is predicted the same way."""

    plans = ()

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=V, num_key_value_heads=1, resolved_head_dim=2,
                                      attention_chunk_size=None)
        self.table = nn.Parameter(torch.randn(V, V, generator=torch.Generator().manual_seed(0)))

    def forward(self, ids, positions=None, cache=None):
        return SimpleNamespace(logits=self.table[ids])


class Copier(nn.Module):
    """Induction by rule: predicts the token that followed the latest earlier occurrence of the current one."""

    def forward(self, ids, positions=None, cache=None):
        B, L = ids.shape
        logits = torch.zeros(B, L, V)
        for b in range(B):
            seen = {}
            for t in range(L):
                token = int(ids[b, t])
                if token in seen:
                    logits[b, t, int(ids[b, seen[token] + 1])] = 1.0
                seen[token] = t
        return SimpleNamespace(logits=logits)


def _periodic_documents(n_docs=2, tokens=600, period=8):
    # Period 8 divides the bucket width (16), so every bucket averages the same positions of the cycle.
    return [np.tile(np.arange(period) + 8 * d, tokens // period) for d in range(n_docs)]


def test_a_model_blind_to_context_has_flat_loss_by_position_on_every_path():
    spec = LengthEval(train_len=16, multiples=(1, 2, 4), windows=2, cached_windows=2, cache_block=5,
                      temperature=(None,), depths=(0.5,), passkey_trials=1)
    results = evaluate_length(ContextBlind(), _periodic_documents(), eot_id=EOT, vocab_size=V, spec=spec)
    assert [s["path"] for s in results["settings"]] == ["full", "cached"]
    for setting in results["settings"]:
        for length in setting["lengths"].values():
            buckets = length["bucket_loss"]
            assert max(buckets) - min(buckets) < 1e-5, (setting["name"], buckets)
    full, cached = results["settings"]
    assert full["lengths"]["4"]["bucket_loss"] == pytest.approx(cached["lengths"]["4"]["bucket_loss"], abs=1e-5)
    assert cached["max_abs_diff_vs_full"] < 1e-5
    assert results["concatenated_lengths"] == []


def test_a_copying_model_retrieves_every_key_and_a_blind_one_none():
    # Filler ids 0..15 leave 16..62 free, so the needle's mark and key never occur in the text.
    spec = LengthEval(train_len=32, multiples=(1, 4), windows=1, cached_windows=0, temperature=(None,),
                      depths=(0.0, 0.5, 1.0), key_len=4, passkey_trials=2)
    documents = _periodic_documents()
    copier = evaluate_length(Copier(), documents, eot_id=EOT, vocab_size=V, spec=spec)["passkey"]["as built, full"]
    blind = evaluate_length(ContextBlind(), documents, eot_id=EOT, vocab_size=V, spec=spec)["passkey"]["as built, full"]
    assert copier == {m: {"0.0": 1.0, "0.5": 1.0, "1.0": 1.0} for m in ("1", "4")}
    assert max(score for depths in blind.values() for score in depths.values()) <= 0.25


def test_short_documents_are_joined_and_the_result_says_so():
    documents = [np.arange(20) for _ in range(10)]
    windows = held_out_windows(documents, length=64, n_windows=2, eot_id=EOT)
    assert windows.concatenated and windows.rows_NL1.shape == (2, 65)
    assert EOT in windows.rows_NL1[0].tolist()


def test_a_corpus_too_short_for_the_length_is_a_user_error_naming_the_tokens():
    spec = LengthEval(train_len=64, multiples=(1, 16), windows=1, temperature=(None,))
    with pytest.raises(UserError, match=r"hold 200 tokens in all, fewer than length\+1=1,025"):
        evaluate_length(ContextBlind(), [np.arange(100), np.arange(100)], eot_id=EOT, vocab_size=V, spec=spec)


@pytest.mark.parametrize("changes, message", [({"multiples": (1, 1)}, r"multiples=\[1, 1\]: a value is repeated"),
                                              ({"depths": (0.5, 0.5)}, r"depths=\[0\.5, 0\.5\]: a value is repeated")])
def test_a_repeated_length_or_depth_is_refused(changes, message):
    with pytest.raises(UserError, match=message):
        LengthEval(**{"train_len": 16, **changes})
