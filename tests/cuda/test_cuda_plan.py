"""The planner's byte formulas against what the CUDA allocator actually hands out: our static KV cache
for a Scout-shaped model, and the weights of small models in bf16 and int8.
"""

import gc

import pytest
import torch
from cuda_device import DEVICE, ON_DEVICE, needs_gpu

from sonar.model import KVCache, build_model, preset
from sonar.plan.formats import get_format, weight_bytes_by_component
from sonar.plan.memory import KvLayout
from sonar.plan.weights import weight_inventory
from sonar.systems.apply import transform
from sonar.systems.config import SystemConfig

pytestmark = ON_DEVICE

# Scout's attention (40 query heads, 8 KV heads of 128, chunks of 8192) on 4 layers: 3 chunked
# RoPE layers and 1 global NoPE layer. The FFN and vocabulary are shrunk: the cache does not see them.
SCOUT_4 = preset("scout").replace(num_hidden_layers=4, vocab_size=1024, intermediate_size=256,
                                  intermediate_size_mlp=512, num_local_experts=2)
CONTEXT = 32768
# The CUDA caching allocator hands out blocks in multiples of 512 bytes.
BLOCK = 512


def _allocated() -> int:
    gc.collect()  # garbage from earlier tests must not be freed inside a measured window
    torch.cuda.synchronize()
    return torch.cuda.memory_allocated()


def test_kv_cache_bytes_match_the_plan_for_a_scout_shaped_model():
    layout = KvLayout.from_config(SCOUT_4, "bf16")
    assert (layout.n_chunked, layout.n_global) == (3, 1)
    model = build_model(SCOUT_4, dtype=torch.bfloat16).eval().to(DEVICE)
    before = _allocated() if DEVICE == "cuda" else 0
    cache = KVCache.allocate(model, batch=1, max_len=CONTEXT, dtype=torch.bfloat16)
    after = _allocated() if DEVICE == "cuda" else 0
    expected = layout.bytes(CONTEXT, batch=1)  # 1 x 32768 + 3 x 8192 tokens at 4 KiB a token a layer
    assert expected == 4096 * (CONTEXT + 3 * 8192)
    assert cache.nbytes() == expected
    # The cache also records each slot's position (int64), which the plan does not count: it is
    # bookkeeping of this implementation, 8 bytes a slot against 4 KiB of keys and values.
    positions = sum(layer.pos_S.nbytes for layer in cache.layers)
    assert positions == 8 * (CONTEXT + 3 * 8192)
    # The cache is usable at that size: a prefill, then a decode step that reads every global slot.
    ids = torch.randint(0, SCOUT_4.vocab_size, (1, 20), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    with torch.inference_mode():
        model(ids, cache=cache)
        step = model(ids[:, -1:], positions=torch.tensor([20], device=DEVICE), cache=cache).logits
    assert torch.isfinite(step.float()).all()
    needs_gpu("the CUDA allocator's byte count")
    assert after - before == expected + positions


def _plan_bytes(config, fmt: str) -> int:
    return sum(weight_bytes_by_component(weight_inventory(config), get_format(fmt), config).values())


def _moved_bytes(model) -> tuple[int, int]:
    """(bytes the allocator gained when `model` moved to the device, tensors moved)."""
    tensors = len(list(model.parameters())) + len(list(model.buffers()))
    before = _allocated()
    model.to(DEVICE)
    return _allocated() - before, tensors


@pytest.mark.parametrize("fmt", ["bf16", "int8"])
def test_weight_bytes_on_the_device_match_the_plan(fmt):
    needs_gpu("the CUDA allocator's byte count")
    config = preset("debug")
    model = build_model(config, dtype=torch.bfloat16).eval()
    if fmt == "int8":
        # The plan's int8 covers the decoder linears (per-row bf16 scales) and keeps the head bf16.
        decoder = {f"weights_{s}": "int8" for s in ("routed", "shared", "attention", "dense")}
        model = transform(model, SystemConfig(**decoder, weights_head="bf16", moe_dispatch="packed_grouped"))
    # inv_freq_F is a non-persistent buffer, not a weight: the plan does not count it.
    extra = model.inv_freq_F.nbytes
    moved, tensors = _moved_bytes(model)
    expected = _plan_bytes(config, fmt) + extra
    assert 0 <= moved - expected < BLOCK * tensors, (moved, expected)
