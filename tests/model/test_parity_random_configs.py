"""Our decoder against transformers on seeded random configurations: every knob drawn together.

The named cases in test_parity_hf.py pin one feature each; here the features meet in combinations
nobody chose (heads, kv heads, explicit head_dim, experts and top-k, MoE/dense interleave and explicit
layer lists, NoPE layers, chunk sizes including none, QK-norm, temperature tuning, RoPE scaling, tied
embeddings), with batch and length drawn too. A draw is a pure function of its seed.
"""

import json
import random

import pytest
import torch

from hf_oracle import hf_model_from, max_abs_diff
from random_model_configs import random_config, wide_random_config
from sonar.checkpoint import from_hf, to_hf
from sonar.model import KVCache, build_model, generate

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


WIDE_SEEDS = range(12)  # about half a second each


@pytest.mark.parametrize("seed", WIDE_SEEDS)
def test_corner_configs_match_transformers_uncached_cached_and_read_back(seed):
    """wide_random_config's corners (chunks of 1-3 tokens, widths no head count divides, empty and full layer
    lists, floor_scale 1, ...): logits, a cached prefill then pieces of 1-3 tokens across chunk boundaries,
    greedy tokens, and the config as written and as transformers writes it back."""
    config = wide_random_config(seed)
    assert from_hf(json.loads(json.dumps(to_hf(config)))) == config
    ours = build_model(config, seed=seed).eval()
    theirs = hf_model_from(ours)
    assert from_hf(theirs.config.to_dict()) == config
    r = random.Random(seed + 20_000)
    batch, length, prefill = r.randint(1, 3), r.randint(12, 40), r.randint(1, 6)
    ids = torch.randint(0, config.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))
    cache = KVCache.allocate(ours, batch=batch, max_len=length)
    with torch.no_grad():
        expected = theirs(ids, use_cache=False).logits
        assert max_abs_diff(ours(ids).logits, expected) <= 1e-4, f"seed {seed}: {config}"
        pieces, p = [ours(ids[:, :prefill], cache=cache).logits], prefill
        while p < length:
            n = min(r.randint(1, 3), length - p)
            pieces.append(ours(ids[:, p:p + n], positions=torch.arange(p, p + n), cache=cache).logits)
            p += n
    assert max_abs_diff(torch.cat(pieces, dim=1), expected) <= 1e-4, f"seed {seed}: {config}"
    greedy = generate(ours, ids[:1, :prefill], max_new_tokens=10)
    # transformers' own cache keeps every key for a 1-token chunk (it slices [-chunk + 1:], i.e. [0:]) and
    # then decodes other tokens than its uncached forward; its uncached greedy is the reference there
    # (no stop tokens, and no padding read into a prompt that holds the pad id)
    prompt = ids[:1, :prefill]
    reference = theirs.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=10,
                                min_new_tokens=10, do_sample=False, eos_token_id=None, pad_token_id=0,
                                use_cache=config.attention_chunk_size != 1)
    assert torch.equal(greedy, reference), f"seed {seed}: greedy tokens differ for {config}"


def test_the_corner_draws_reach_the_corners():
    configs = [wide_random_config(seed) for seed in WIDE_SEEDS]
    assert {c.attention_chunk_size for c in configs} >= {1, 2, 1000}
    assert any(c.hidden_size % c.num_attention_heads for c in configs) and any(c.head_dim == 2 for c in configs)
    assert any(c.moe_layers == () for c in configs) and any(c.nope_layers == () for c in configs)
    assert any(c.rope_scaling is not None and c.rope_scaling.low_freq_factor != 1 for c in configs)
