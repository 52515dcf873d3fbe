"""Multimodal checkpoints in transformers' Llama4ForConditionalGeneration format."""

import json

import pytest
import torch

from sonar.checkpoint import (
    CheckpointError,
    load_multimodal,
    load_pretrained,
    multimodal_from_hf,
    save_pretrained,
)
from sonar.model.config import ConfigError
from sonar.model.fusion import build_multimodal_model
from vision_cases import CONFIG, VISION, pixels, prompt, tiny_model


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("max_shard_bytes", [2 << 30, 20_000])
def test_round_trip_keeps_weights_and_config(tmp_path, max_shard_bytes):
    model = tiny_model(seed=2)
    save_pretrained(model, tmp_path / "ckpt", max_shard_bytes=max_shard_bytes)
    loaded = load_multimodal(tmp_path / "ckpt")
    assert loaded.config == CONFIG
    assert _same_state(model, loaded)
    ids, pv = prompt([(2, 2)]), pixels([(2, 2)])
    with torch.no_grad():
        assert torch.equal(model(ids, pv).logits, loaded(ids, pv).logits)


def test_config_json_is_transformers_multimodal_layout(tmp_path):
    save_pretrained(tiny_model(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "llama4"
    assert config["architectures"] == ["Llama4ForConditionalGeneration"]
    assert config["text_config"]["model_type"] == "llama4_text"
    assert config["vision_config"]["rope_parameters"]["rope_theta"] == VISION.rope_theta
    assert config["image_token_index"] == CONFIG.image_token_index


def test_text_only_load_of_a_multimodal_checkpoint_is_its_language_model(tmp_path):
    model = tiny_model(seed=5)
    save_pretrained(model, tmp_path)
    text = load_pretrained(tmp_path)
    ids = torch.randint(0, 400, (1, 12))
    with torch.no_grad():
        assert torch.equal(text(ids).logits, model.language_model(ids).logits)


def test_a_text_only_checkpoint_is_not_multimodal(tmp_path):
    save_pretrained(tiny_model().language_model, tmp_path)
    with pytest.raises(ConfigError, match="model_type='llama4_text'"):
        load_multimodal(tmp_path)


def test_unexpected_and_missing_tensors_are_named(tmp_path):
    from safetensors.torch import load_file, save_file

    save_pretrained(tiny_model(), tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    weights["vision_model.extra_thing"] = torch.zeros(1)
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="vision_model.extra_thing"):
        load_multimodal(tmp_path)
    del weights["vision_model.extra_thing"], weights["vision_model.layernorm_post.bias"]
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="vision_model.layernorm_post.bias"):
        load_multimodal(tmp_path)


@pytest.mark.parametrize(("vision_changes", "message"), [
    (dict(multi_modal_projector_bias=True), "multi_modal_projector_bias"),
    (dict(norm_eps=1e-6), "norm_eps=1e-06"),
    (dict(intermediate_size=96), "intermediate_size=96"),
])
def test_configs_transformers_cannot_build_are_refused_on_save(tmp_path, vision_changes, message):
    model = build_multimodal_model(CONFIG.replace(vision=VISION.replace(**vision_changes)))
    with pytest.raises(ConfigError, match=message):
        save_pretrained(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_reads_the_config_transformers_writes():
    transformers = pytest.importorskip("transformers")
    hf = transformers.Llama4Config(
        text_config=dict(vocab_size=512, hidden_size=64, intermediate_size=96, intermediate_size_mlp=192,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16),
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128,
                           image_size=56, patch_size=14, vision_output_dim=48, projector_input_dim=48,
                           projector_output_dim=48, rope_parameters={"rope_type": "default", "rope_theta": 500.0}),
        boi_token_index=500, eoi_token_index=501, image_token_index=505,
    ).to_dict()
    config = multimodal_from_hf(hf)
    assert config.vision.rope_theta == 500.0 and config.vision.tokens_per_tile == 4
    assert config.text.hidden_size == 64 and config.image_token_index == 505
