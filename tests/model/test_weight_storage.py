"""Linear weight storage: input-major strides for the wide linears, nothing else about the model changes."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from sonar import UserError
from sonar.checkpoint import load_multimodal, load_pretrained, save_multimodal, save_pretrained
from sonar.model import build_model, generate, preset
from sonar.model.weight_storage import is_input_major, store_linears
from vision_cases import CONFIG, tiny_model


def _linears(model):
    return {name: m for name, m in model.named_modules() if type(m) is nn.Linear}


def test_default_stores_exactly_the_wide_linears_input_major():
    model = build_model(preset("tiny"), seed=0)
    wide = {name for name, m in _linears(model).items() if m.out_features > m.in_features}
    assert wide  # tiny has wide gate/up projections and a wide head
    for name, linear in _linears(model).items():
        assert is_input_major(linear.weight) == (name in wide), name
        assert linear.weight.shape == (linear.out_features, linear.in_features)


def test_canonical_storage_is_row_major_everywhere():
    model = build_model(preset("tiny"), seed=0, linear_storage="canonical")
    assert all(p.is_contiguous() for p in model.parameters())


def test_storage_changes_no_value_and_no_name():
    default = build_model(preset("tiny"), seed=3)
    canonical = build_model(preset("tiny"), seed=3, linear_storage="canonical")
    a, b = default.state_dict(), canonical.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_outputs_and_greedy_tokens_match_the_canonical_layout():
    config = preset("tiny")
    default = build_model(config, seed=0).eval()
    canonical = build_model(config, seed=0, linear_storage="canonical").eval()
    ids = torch.randint(0, config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        torch.testing.assert_close(default(ids).logits, canonical(ids).logits, rtol=1e-5, atol=1e-5)
        tokens = [generate(m, ids[:1], max_new_tokens=12) for m in (default, canonical)]
        assert torch.equal(*tokens)


def test_training_keeps_the_layout_and_the_losses():
    config = preset("tiny")
    models = {s: build_model(config, seed=0, linear_storage=s) for s in ("wide_input_major", "canonical")}
    ids = torch.randint(0, config.vocab_size, (2, 32), generator=torch.Generator().manual_seed(2))
    losses = {}
    for storage, model in models.items():
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for _ in range(3):
            logits = model(ids).logits
            loss = nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        losses[storage] = loss.item()
    assert losses["wide_input_major"] == pytest.approx(losses["canonical"], rel=1e-5)
    gate = models["wide_input_major"].layers[0].ffn.shared_expert.gate_proj.weight
    assert is_input_major(gate)  # neither autograd nor the optimizer's update re-lays it out


def test_checkpoints_are_written_row_major_and_load_input_major(tmp_path):
    model = build_model(preset("tiny"), seed=0)
    save_pretrained(model, tmp_path / "ckpt")
    written = {}
    for shard in (tmp_path / "ckpt").glob("*.safetensors"):
        written.update(load_file(str(shard)))
    assert all(t.is_contiguous() for t in written.values())
    loaded = load_pretrained(tmp_path / "ckpt")
    assert is_input_major(loaded.lm_head.weight)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    canonical = load_pretrained(tmp_path / "ckpt", linear_storage="canonical")
    assert all(p.is_contiguous() for p in canonical.parameters())


def test_a_head_tied_to_the_embedding_keeps_row_major_rows():
    config = dataclasses.replace(preset("tiny"), tie_word_embeddings=True)
    model = build_model(config, seed=0)
    assert model.lm_head.weight is model.embed.weight
    assert model.embed.weight.is_contiguous()


def test_bf16_keeps_the_layout():
    model = build_model(preset("tiny"), seed=0, dtype=torch.bfloat16)
    assert is_input_major(model.lm_head.weight) and model.lm_head.weight.dtype == torch.bfloat16


def test_restoring_is_idempotent_and_reversible():
    model = build_model(preset("tiny"), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    store_linears(model, "canonical")
    assert all(p.is_contiguous() for p in model.parameters())
    store_linears(model, "wide_input_major")
    store_linears(model, "wide_input_major")
    assert is_input_major(model.lm_head.weight)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("bad", ["row_major", "", None, 1])
def test_an_unknown_storage_is_refused_by_name(bad, tmp_path):
    with pytest.raises(UserError, match="linear_storage"):
        build_model(preset("tiny"), linear_storage=bad)
    with pytest.raises(UserError, match="linear_storage"):
        load_pretrained(tmp_path, linear_storage=bad)


def test_multimodal_restrides_the_decoder_only(tmp_path):
    model = tiny_model()
    assert is_input_major(model.language_model.lm_head.weight)
    assert all(p.is_contiguous() for p in model.vision_model.parameters())
    save_multimodal(model, tmp_path / "mm")
    loaded = load_multimodal(tmp_path / "mm")
    assert is_input_major(loaded.language_model.lm_head.weight)
    assert all(p.is_contiguous() for p in loaded.vision_model.parameters())
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert CONFIG.text.vocab_size > CONFIG.text.hidden_size  # so the head is wide
