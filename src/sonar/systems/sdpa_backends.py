"""The SDPA backend as a knob: an attention kernel run with torch's fused-attention choice pinned to
one backend (flash, memory-efficient or math), registered from outside the model under its own name.

CUDA's flash kernels take half precision only and no arbitrary mask, so on CUDA the flash variant
casts q, k and v to bf16 (a quality cost, checked like a weight format's) and serves a fresh prefill
through chunk_blocked, whose calls of SDPA are all unmasked causal ones. On CUDA grouped key/value
heads are repeated per query head, since not every backend takes them. The CPU's flash kernel takes
fp32, masks and grouped heads, so there it changes nothing but the kernel. Which combinations can
run at all is space.py's rule; this file only builds them.
"""

from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from sonar.model.attention_kernels import ATTENTION_KERNELS, AttentionKernel

_BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
             "math": SDPBackend.MATH}


def kernel_name(attention: str, backend: str, target: str) -> str:
    """The registered name of `attention` with SDPA pinned to `backend` on `target` (auto: unchanged)."""
    if backend == "auto":
        return attention
    name = f"{attention}@{backend}:{target}"
    if name not in ATTENTION_KERNELS:
        ATTENTION_KERNELS[name] = _pinned(ATTENTION_KERNELS[attention], backend, cuda=target == "cuda")
    return name


def _pinned(base: AttentionKernel, backend: str, *, cuda: bool) -> AttentionKernel:
    def kernel(q, k, v, *, q_pos, k_pos, chunk, scale, fresh):
        dtype = q.dtype
        if cuda and k.shape[1] != q.shape[1]:
            # Not every CUDA backend takes grouped key/value heads (enable_gqa) in every torch version:
            # a pinned backend gets them repeated to one per query head, the same attention.
            groups = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        if cuda and backend == "flash":
            q, k, v = (t.to(torch.bfloat16) for t in (q, k, v))
        with sdpa_kernel(_BACKENDS[backend]):
            out = base(q, k, v, q_pos=q_pos, k_pos=k_pos, chunk=chunk, scale=scale, fresh=fresh)
        return out.to(dtype)

    return kernel

