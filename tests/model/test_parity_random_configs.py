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
from random_model_configs import random_config
from sonar.model import build_model, generate

SEEDS = range(48)  # about a quarter of a second each


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
