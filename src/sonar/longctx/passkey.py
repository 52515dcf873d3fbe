"""Synthetic retrieval: a key of random tokens hidden at a controlled depth of real text, asked for at the end.

The window is filler text with [mark, k1..kn] placed at `depth` (0: the start, 1: just before the
question) and [mark, k1..kn] again as its last tokens. The score is the share of key tokens the model
predicts (argmax, teacher-forced) after the second mark: a model that finds the first mark and copies
what followed it scores 1; one that ignores its context scores about 1/vocab. Mark and key tokens are
drawn from ids absent from the filler where the vocabulary allows, so a copy is never ambiguous.
"""

from __future__ import annotations

import numpy as np
import torch

from sonar.errors import UserError


def passkey_window(filler: np.ndarray, *, depth: float, key_len: int, vocab_size: int,
                   rng: np.random.Generator, exclude: tuple[int, ...] = ()) -> torch.Tensor:
    """[L] ids: filler with the needle at `depth` and the question at the end (L = len(filler))."""
    L, needle = len(filler), key_len + 1
    if not 0.0 <= depth <= 1.0:
        raise UserError(f"depth={depth}: must be in [0, 1]")
    if L < 2 * needle + 1:
        raise UserError(f"a passkey window of {L} tokens cannot hold a key of {key_len} tokens twice")
    unused = np.setdiff1d(np.arange(vocab_size), np.concatenate([filler, np.asarray(exclude, dtype=filler.dtype)]))
    pool = unused if len(unused) > needle else np.setdiff1d(np.arange(vocab_size), exclude)
    mark_key = rng.choice(pool, size=needle, replace=False)
    ids = np.array(filler, dtype=np.int64)
    at = int(round(depth * (L - 2 * needle)))
    ids[at: at + needle] = mark_key
    ids[L - needle:] = mark_key
    return torch.from_numpy(ids)


@torch.no_grad()
def retrieval_score(model, window_L: torch.Tensor, key_len: int) -> float:
    """Share of the final key's tokens predicted by argmax from everything before each."""
    logits_LV = model(window_L[None, :-1]).logits[0]
    predicted = logits_LV[-key_len:].argmax(-1)
    return float((predicted == window_L[-key_len:]).float().mean())
