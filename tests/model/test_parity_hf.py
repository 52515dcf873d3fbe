"""Our decoder against transformers' Llama4ForCausalLM on the same weights (fp32)."""

import pytest
import torch

from hf_oracle import hf_model_from, max_abs_diff, transformers
from random_model_configs import random_config
from sonar.checkpoint import load_pretrained, save_pretrained
from sonar.model import RopeScaling, build_model, generate, preset

BASE = preset("debug").replace(initializer_range=0.08)
LLAMA3 = RopeScaling(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=64)

CASES = {
    "scout_style": BASE.replace(
        interleave_moe_layer_step=1, use_qk_norm=True,
        rope_scaling=RopeScaling(factor=16.0, low_freq_factor=1.0, high_freq_factor=1.0,
                                 original_max_position_embeddings=32),
    ),
    "maverick_style": BASE.replace(interleave_moe_layer_step=2, use_qk_norm=False),
    "top2": BASE.replace(num_local_experts=6, num_experts_per_tok=2),
    "one_kv_head": BASE.replace(num_key_value_heads=1),
    "kv_equals_heads": BASE.replace(num_key_value_heads=4),
    "many_chunks": BASE.replace(attention_chunk_size=8, rope_scaling=LLAMA3),
    "temperature_tuning_active": BASE.replace(floor_scale=4, attn_scale=0.5, no_rope_layer_interval=2),
    "explicit_head_dim": BASE.replace(head_dim=32, num_hidden_layers=3),
    "explicit_layer_lists": BASE.replace(nope_layers=(0, 2), moe_layers=(1, 2), num_hidden_layers=3),
    "global_attention": BASE.replace(attention_chunk_size=None, use_qk_norm=True),
}


def _inputs(config, batch, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, config.vocab_size, (batch, length), generator=g)


@pytest.mark.parametrize("name", sorted(CASES))
def test_logits_match_transformers(name):
    config = CASES[name]
    ours = build_model(config, seed=3).eval()
    theirs = hf_model_from(ours)
    ids = _inputs(config, batch=2, length=75)  # > two chunks of 32
    with torch.no_grad():
        diff = max_abs_diff(ours(ids).logits, theirs(ids, use_cache=False).logits)
    assert diff <= 1e-5, f"{name}: max abs diff {diff:.2e}"


def test_no_chunk_size_means_global_attention_everywhere():
    # transformers cannot run without a chunk size, so compare with a chunk longer than the input.
    config = BASE.replace(attention_chunk_size=None)
    ids = _inputs(config, batch=1, length=50)
    unchunked = build_model(config, seed=3).eval()
    one_chunk = build_model(config.replace(attention_chunk_size=64), seed=3).eval()
    with torch.no_grad():
        assert max_abs_diff(unchunked(ids).logits, one_chunk(ids).logits) <= 1e-6


def test_temperature_tuning_changes_the_output():
    # Guards the case above: a floor_scale this small must make the NoPE-layer scaling matter.
    config = CASES["temperature_tuning_active"]
    model = build_model(config, seed=3).eval()
    ids = _inputs(config, batch=1, length=40)
    off = build_model(config.replace(attn_temperature_tuning=False), seed=3).eval()
    with torch.no_grad():
        assert max_abs_diff(model(ids).logits, off(ids).logits) > 1e-3


@pytest.mark.parametrize("kernel", ["eager", "sdpa", "chunk_blocked"])
def test_every_attention_kernel_matches_transformers(kernel):
    config = CASES["many_chunks"]
    ours = build_model(config, seed=5).eval()
    theirs = hf_model_from(ours)
    for block in ours.layers:
        block.attn.kernel_name = kernel
    ids = _inputs(config, batch=2, length=37)
    with torch.no_grad():
        assert max_abs_diff(ours(ids).logits, theirs(ids).logits) <= 1e-5


@pytest.mark.parametrize("name", ["scout_style", "maverick_style"])
def test_greedy_generation_matches_transformers_and_our_uncached_forward(name):
    config = CASES[name].replace(attention_chunk_size=16)
    ours = build_model(config, seed=7).eval()
    theirs = hf_model_from(ours)
    prompt = _inputs(config, batch=1, length=12)
    cached = generate(ours, prompt, max_new_tokens=48)  # ends at position 59: crosses 16, 32 and 48
    uncached = generate(ours, prompt, max_new_tokens=48, use_cache=False)
    reference = theirs.generate(prompt, max_new_tokens=48, min_new_tokens=48, do_sample=False)
    assert cached.shape == (1, 60)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, reference)


def test_bf16_model_keeps_float32_rope_frequencies_as_transformers_loads_it(tmp_path):
    # model.to(bfloat16) rounded the RoPE frequency buffer to bf16 (every angle off), where transformers'
    # from_pretrained(dtype=bfloat16) keeps it float32: logits differed by up to 0.1 on random configs, and a
    # bf16 model saved and loaded again (float32 table) gave other logits than before.
    config = random_config(3054)
    save_pretrained(build_model(config, seed=3054), tmp_path / "fp32")
    theirs = transformers.Llama4ForCausalLM.from_pretrained(
        tmp_path / "fp32", dtype=torch.bfloat16, attn_implementation="eager"
    ).eval()
    built = build_model(config, seed=3054, dtype=torch.bfloat16).eval()
    loaded = load_pretrained(tmp_path / "fp32", dtype=torch.bfloat16)
    save_pretrained(built, tmp_path / "bf16")
    reloaded = load_pretrained(tmp_path / "bf16")
    ids = _inputs(config, batch=2, length=17, seed=3054)
    with torch.no_grad():
        expected = theirs(ids, use_cache=False).logits
        for model in (built, loaded, reloaded):
            assert model.inv_freq_F.dtype == torch.float32
            for block in model.layers:
                block.attn.kernel_name = "eager"  # transformers' eager softmax, bit for bit
            assert torch.equal(model(ids).logits, expected)
