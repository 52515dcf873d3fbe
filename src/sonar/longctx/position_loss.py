"""Cross-entropy at every position of long windows, through the full forward or the KV-cached path.

Legend: N windows, L positions, V vocabulary.

Any model called as model(ids, positions=..., cache=...) -> .logits works; the cached path feeds the
window `block` tokens at a time into a static KVCache, so it checks the decode path at every position.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
import torch.nn.functional as F

from sonar.model.cache import KVCache


@torch.no_grad()
def full_losses(model, rows_NL1: torch.Tensor) -> torch.Tensor:
    """[N, L] per-position losses, one window per forward call (long windows do not batch well in memory)."""
    return torch.cat([_losses(model(row[None, :-1]).logits, row[None, 1:]) for row in rows_NL1])


@torch.no_grad()
def cached_losses(model, rows_NL1: torch.Tensor, *, block: int) -> torch.Tensor:
    """[N, L] per-position losses, the window fed `block` tokens per call through a fresh KV cache."""
    N, L = rows_NL1.shape[0], rows_NL1.shape[1] - 1
    out = torch.empty(N, L)
    for n in range(N):
        inputs_1L = rows_NL1[n: n + 1, :-1]
        cache = KVCache.allocate(model, batch=1, max_len=L)
        for start in range(0, L, block):
            end = min(start + block, L)
            positions = None if start == 0 else torch.arange(start, end)
            logits = model(inputs_1L[:, start:end], positions=positions, cache=cache).logits
            cache.next_position = end
            out[n, start:end] = _losses(logits, rows_NL1[n: n + 1, start + 1: end + 1])[0]
    return out


def bucket_means(losses_NL: torch.Tensor, width: int) -> list[float]:
    """Mean loss over positions [0, width), [width, 2*width), ... (the last bucket may be shorter)."""
    per_position_L = losses_NL.mean(0)
    return [float(per_position_L[s: s + width].mean()) for s in range(0, per_position_L.shape[0], width)]


@contextlib.contextmanager
def temperature_tuning(model, enabled: bool | None):
    """Switch attention temperature tuning on the NoPE layers for a while (None: as the model was built).
    The scaling has no weights, so the switch is exact and the same weights serve both settings."""
    blocks = getattr(model, "layers", ()) if enabled is not None else ()
    saved = [block.attn.plan for block in blocks]
    for block in blocks:
        plan = block.attn.plan
        block.attn.plan = dataclasses.replace(plan, temperature_tuning=enabled and not plan.use_rope)
    try:
        yield
    finally:
        for block, plan in zip(blocks, saved, strict=True):
            block.attn.plan = plan


def _losses(logits_NLV: torch.Tensor, targets_NL: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits_NLV.float().transpose(1, 2), targets_NL, reduction="none")
