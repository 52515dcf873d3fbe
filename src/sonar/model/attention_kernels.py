"""Attention kernels with one contract, chosen per model from outside (see sonar.systems).

Legend: B batch, H query heads, K kv heads, T queries, S keys, D head dim, C chunk size.

Every kernel takes q [B,H,T,D] and k, v [B,K,S,D] plus the absolute position of every query
(q_pos [T]) and key (k_pos [S], -1 for an empty cache slot) and returns [B,H,T,D]. Key j is
visible to query i iff 0 <= k_pos[j] <= q_pos[i] and, on chunked layers, both fall in the same
fixed block of `chunk` positions (Llama 4's chunked attention restarts every chunk; it is not a
sliding window). `fresh=True` promises that k_pos == q_pos == p0..p0+T-1 with p0 a chunk start
(a prefill with nothing cached), which lets kernels skip building the mask.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def visibility_mask(q_pos_T: torch.Tensor, k_pos_S: torch.Tensor, chunk: int | None) -> torch.Tensor:
    q, k = q_pos_T[:, None], k_pos_S[None, :]
    visible_TS = (k >= 0) & (k <= q)
    if chunk is not None:
        visible_TS &= torch.div(k, chunk, rounding_mode="floor") == torch.div(q, chunk, rounding_mode="floor")
    return visible_TS


def _repeat_kv(x_BKSD: torch.Tensor, groups: int) -> torch.Tensor:
    if groups == 1:
        return x_BKSD
    B, K, S, D = x_BKSD.shape
    return x_BKSD[:, :, None].expand(B, K, groups, S, D).reshape(B, K * groups, S, D)


def eager_masked(q, k, v, *, q_pos, k_pos, chunk, scale, fresh) -> torch.Tensor:
    """The reference formulation: explicit scores, additive mask, softmax in the model dtype."""
    groups = q.shape[1] // k.shape[1]
    k, v = _repeat_kv(k, groups), _repeat_kv(v, groups)
    scores_BHTS = torch.matmul(q, k.transpose(2, 3)) * scale
    visible_TS = visibility_mask(q_pos, k_pos, chunk)
    scores_BHTS = scores_BHTS.masked_fill(~visible_TS, torch.finfo(scores_BHTS.dtype).min)
    return torch.matmul(torch.softmax(scores_BHTS, dim=-1), v)


def sdpa_masked(q, k, v, *, q_pos, k_pos, chunk, scale, fresh) -> torch.Tensor:
    """Fused SDPA; uses its causal fast path where no chunk boundary is involved: no chunking, or a
    fresh prefill no longer than one chunk (it starts at a chunk start, so it lies inside one chunk).
    Without a mask, CUDA can run its flash kernel, several times faster than a masked one."""
    groups = q.shape[1] // k.shape[1]
    if fresh and (chunk is None or q.shape[2] <= chunk):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=groups > 1)
    mask_TS = visibility_mask(q_pos, k_pos, chunk)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask_TS, scale=scale, enable_gqa=groups > 1)


def chunk_blocked(q, k, v, *, q_pos, k_pos, chunk, scale, fresh) -> torch.Tensor:
    """On a fresh chunked prefill, compute only the diagonal C x C blocks: each chunk is an
    independent causal sequence, so fold chunks into the batch and run causal SDPA."""
    if not (fresh and chunk is not None and q.shape[2] > chunk):
        return sdpa_masked(q, k, v, q_pos=q_pos, k_pos=k_pos, chunk=chunk, scale=scale, fresh=fresh)
    B, H, T, D = q.shape
    K = k.shape[1]
    n_chunks = -(-T // chunk)
    pad = n_chunks * chunk - T
    if pad:
        # Padding sits after the real keys of the last chunk, so causality already hides it.
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))

    def fold(t: torch.Tensor, heads: int) -> torch.Tensor:  # [B,h,N*C,D] -> [B*N,h,C,D]
        return t.view(B, heads, n_chunks, chunk, D).transpose(1, 2).reshape(B * n_chunks, heads, chunk, D)

    out = F.scaled_dot_product_attention(
        fold(q, H), fold(k, K), fold(v, K), is_causal=True, scale=scale, enable_gqa=H != K
    )
    out_BHTD = out.view(B, n_chunks, H, chunk, D).transpose(1, 2).reshape(B, H, n_chunks * chunk, D)
    return out_BHTD[:, :, :T]


AttentionKernel = Callable[..., torch.Tensor]

ATTENTION_KERNELS: dict[str, AttentionKernel] = {
    "eager": eager_masked,
    "sdpa": sdpa_masked,
    "chunk_blocked": chunk_blocked,
}
DEFAULT_ATTENTION_KERNEL = "chunk_blocked"
