"""The memory-bandwidth floor of a decode step: a memory-bound step cannot beat the bytes of
weight it must read divided by the bandwidth a GEMV achieves (Williams et al., CACM 2009)."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from sonar.model.moe import RoutedExperts
from sonar.systems.experts import ExpertBank


@torch.inference_mode()
def gemv_bandwidth(*, rows: int = 4096, cols: int = 4096, repeats: int = 20) -> float:
    """Bytes/s of an fp32 matrix-vector product on a matrix too large for the caches."""
    w_NK = torch.randn(rows, cols)
    x_K = torch.randn(cols)
    for _ in range(3):
        torch.mv(w_NK, x_K)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mv(w_NK, x_K)
        times.append(time.perf_counter() - t0)
    return w_NK.numel() * w_NK.element_size() / statistics.median(times)


def active_weight_bytes(model: nn.Module) -> float:
    """Weight bytes one decoded token reads: everything, except that only top_k of E routed experts
    are read and one embedding row. Works on transformed models (packed banks count as stored)."""
    config = model.config
    routed_share = config.num_experts_per_tok / config.num_local_experts
    total = 0.0
    for module in model.modules():
        tensors = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
        if isinstance(module, nn.Embedding):
            tensors = [t for t in tensors if t is not getattr(model.lm_head, "weight", None)]
            total += sum(t.element_size() * t.shape[-1] for t in tensors)
            continue
        nbytes = sum(t.numel() * t.element_size() for t in tensors if t.is_floating_point() or t.dtype in (
            torch.int8, torch.uint8, torch.float8_e4m3fn, torch.bfloat16))
        nbytes += getattr(module, "packed_bytes", 0)  # prepacked linears hold their weight outside buffers
        if isinstance(module, RoutedExperts | ExpertBank):
            nbytes *= routed_share
        total += nbytes
    inv_freq = getattr(model, "inv_freq_F", None)
    if inv_freq is not None:
        total -= inv_freq.numel() * inv_freq.element_size()
    return total
