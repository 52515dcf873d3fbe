"""Our decoder against transformers on seeded random configurations: every knob drawn together.

The named cases in test_parity_hf.py pin one feature each; here the features meet in combinations
nobody chose (heads, kv heads, explicit head_dim, experts and top-k, MoE/dense interleave and explicit
layer lists, NoPE layers, chunk sizes including none, QK-norm, temperature tuning, RoPE scaling, tied
embeddings), with batch and length drawn too. A draw is a pure function of its seed.
"""

import random

import pytest
import torch

from hf_oracle import hf_model_from, max_abs_diff
from sonar.model import ModelConfig, RopeScaling, build_model, generate

SEEDS = range(48)  # about a quarter of a second each


def random_config(seed: int) -> ModelConfig:
    r = random.Random(seed)
    heads = r.choice([1, 2, 3, 4, 6, 8])
    kv_heads = r.choice([k for k in (1, 2, 3, 4, 6, 8) if heads % k == 0])
    hidden = r.choice([16, 24, 32, 48, 64, 96])
    head_dim = r.choice([None, 8, 16, 24, 32])
    if head_dim is None and (hidden % heads or (hidden // heads) % 2):
        head_dim = 16  # the derived one would not be a whole, even size
    layers = r.randint(1, 5)
    experts = r.randint(1, 8)
    fields = dict(
        vocab_size=r.choice([64, 100, 257]), hidden_size=hidden, intermediate_size=r.choice([8, 24, 64]),
        intermediate_size_mlp=r.choice([16, 40, 128]), num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv_heads, head_dim=head_dim, num_local_experts=experts,
        num_experts_per_tok=r.randint(1, experts), interleave_moe_layer_step=r.randint(1, 3),
        no_rope_layer_interval=r.randint(1, 5), attention_chunk_size=r.choice([None, 4, 8, 16, 33]),
        use_qk_norm=r.random() < 0.5, attn_temperature_tuning=r.random() < 0.5, floor_scale=r.choice([2, 8, 8192]),
        attn_scale=r.choice([0.0, 0.1, 0.7]), rope_theta=r.choice([10000.0, 500000.0]),
        tie_word_embeddings=r.random() < 0.3, initializer_range=0.08, max_position_embeddings=256,
    )
    if r.random() < 0.3:
        fields["rope_scaling"] = RopeScaling(factor=r.choice([2.0, 8.0]), low_freq_factor=1.0,
                                             high_freq_factor=r.choice([1.0, 4.0]),
                                             original_max_position_embeddings=r.choice([16, 32]))
    if r.random() < 0.2:
        fields["moe_layers"] = tuple(sorted(r.sample(range(layers), r.randint(0, layers))))
    if r.random() < 0.2:
        fields["nope_layers"] = tuple(sorted(r.sample(range(layers), r.randint(0, layers))))
    return ModelConfig(**fields)


def _check(seed: int) -> None:
    config = random_config(seed)
    ours = build_model(config, seed=seed).eval()
    theirs = hf_model_from(ours)
    r = random.Random(seed + 10_000)
    batch, length = r.randint(1, 3), r.randint(1, 70)
    ids = torch.randint(0, config.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        diff = max_abs_diff(ours(ids).logits, theirs(ids, use_cache=False).logits)
    assert diff <= 1e-4, f"seed {seed}: max abs diff {diff:.2e} for {config}"
    greedy = generate(ours, ids[:1], max_new_tokens=8)
    expected = theirs.generate(ids[:1], max_new_tokens=8, min_new_tokens=8, do_sample=False)
    assert torch.equal(greedy, expected), f"seed {seed}: greedy tokens differ for {config}"


@pytest.mark.parametrize("seed", SEEDS)
def test_random_configs_match_transformers(seed):
    _check(seed)


def test_the_draws_cover_the_knobs():
    configs = [random_config(seed) for seed in SEEDS]
    assert {c.attention_chunk_size is None for c in configs} == {True, False}
    assert {c.use_qk_norm for c in configs} == {True, False}
    assert {c.num_experts_per_tok > 1 for c in configs} == {True, False}
    assert {c.rope_scaling is None for c in configs} == {True, False}
    assert any(c.moe_layers is not None for c in configs) and any(c.nope_layers is not None for c in configs)
