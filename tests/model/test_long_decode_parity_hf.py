"""Cached greedy decode far past the chunk size, with temperature tuning active, against transformers;
and the KV cache's shape over a long decode: chunked layers stay at one chunk, global layers grow."""

import pytest
import torch

from hf_oracle import hf_model_from
from sonar.model import KVCache, build_model, generate, preset

CHUNK = 8
# Tiny dims keep the test fast; floor_scale = the chunk makes the NoPE layers' query temperature change
# every 8 positions (Llama 4 ties them the same way at 8192), and attn_scale 0.5 makes that change large.
LONG = preset("debug").replace(
    initializer_range=0.08, hidden_size=32, intermediate_size=48, intermediate_size_mlp=64, num_attention_heads=2,
    num_key_value_heads=1, attention_chunk_size=CHUNK, no_rope_layer_interval=2, floor_scale=CHUNK, attn_scale=0.5,
)


@pytest.mark.slow  # ~10 s: the transformers twin is built and decodes 75 tokens
def test_cached_greedy_decode_at_10x_the_chunk_matches_transformers_with_temperature_tuning():
    ours = build_model(LONG, seed=11).eval()
    theirs = hf_model_from(ours)
    prompt = torch.randint(0, LONG.vocab_size, (1, 5), generator=torch.Generator().manual_seed(2))
    new = 10 * CHUNK - 5  # the last token sits at position 79: ten chunks, temperature scale up to 1 + 0.5 ln 11
    cached = generate(ours, prompt, max_new_tokens=new)
    reference = theirs.generate(prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False)
    assert cached.shape == (1, 10 * CHUNK)
    assert torch.equal(cached, reference)
    assert torch.equal(cached, generate(ours, prompt, max_new_tokens=new, use_cache=False))
    # The scaling is live: without it the same weights decode another continuation.
    untuned = build_model(LONG.replace(attn_temperature_tuning=False), seed=11).eval()
    assert not torch.equal(cached, generate(untuned, prompt, max_new_tokens=new))


@torch.no_grad()
def test_chunked_layers_hold_at_most_one_chunk_while_global_layers_hold_every_position():
    model = build_model(LONG, seed=11).eval()
    length = 12 * CHUNK
    cache = KVCache.allocate(model, batch=1, max_len=length)
    ids = torch.randint(0, LONG.vocab_size, (1, length), generator=torch.Generator().manual_seed(3))
    chunked = [c for c, plan in zip(cache.layers, model.plans, strict=True) if plan.chunked_mask]
    global_ = [c for c, plan in zip(cache.layers, model.plans, strict=True) if not plan.chunked_mask]
    assert chunked and global_
    model(ids[:, :1], cache=cache)
    for p in range(1, length):
        model(ids[:, p: p + 1], positions=torch.tensor([p]), cache=cache)
        held = p + 1
        assert all(c.k_BKSD.shape[2] == CHUNK and int((c.pos_S >= 0).sum()) == min(held, CHUNK) for c in chunked)
        assert all(int((c.pos_S >= 0).sum()) == held for c in global_)
    assert all(c.k_BKSD.shape[2] == length for c in global_)
