"""Static KV caches, exact for both Llama 4 layer kinds, with shapes that never change (compile-friendly).

Global (NoPE) layers keep every position up to `max_len`. Chunked layers keep a ring of C slots:
position p lives in slot p mod C. A chunked query never needs keys from an earlier chunk, and
the stale ones left in the ring are hidden by their recorded position, so nothing is reset.
"""

from __future__ import annotations

import numbers

import torch

from sonar.errors import UserError


class LayerCache:
    """One layer's keys and values [B, K, S, D] and the absolute position held by each slot (-1: empty)."""

    def __init__(self, *, batch: int, kv_heads: int, slots: int, head_dim: int, ring: bool,
                 dtype: torch.dtype, device: torch.device | str) -> None:
        self.ring = ring
        self.slots = slots
        self.k_BKSD = torch.zeros(batch, kv_heads, slots, head_dim, dtype=dtype, device=device)
        self.v_BKSD = torch.zeros_like(self.k_BKSD)
        self.pos_S = torch.full((slots,), -1, dtype=torch.long, device=device)

    def write(self, k_BKTD: torch.Tensor, v_BKTD: torch.Tensor, pos_T: torch.Tensor) -> None:
        if self.ring and k_BKTD.shape[2] > self.slots:
            # Only the last C positions can still be attended to by later queries.
            k_BKTD, v_BKTD, pos_T = k_BKTD[:, :, -self.slots:], v_BKTD[:, :, -self.slots:], pos_T[-self.slots:]
        slot_T = pos_T % self.slots if self.ring else pos_T
        self.k_BKSD.index_copy_(2, slot_T, k_BKTD)
        self.v_BKSD.index_copy_(2, slot_T, v_BKTD)
        self.pos_S.index_copy_(0, slot_T, pos_T)

    def keys_for(self, k_BKTD: torch.Tensor, v_BKTD: torch.Tensor, pos_T: torch.Tensor):
        """Store the new keys and return everything the new queries may attend to, with positions."""
        if self.ring and k_BKTD.shape[2] > 1:
            # Writing first could evict keys that earlier queries of this same call still need.
            keys = torch.cat((self.k_BKSD, k_BKTD), dim=2)
            values = torch.cat((self.v_BKSD, v_BKTD), dim=2)
            positions = torch.cat((self.pos_S, pos_T))
            self.write(k_BKTD, v_BKTD, pos_T)
            return keys, values, positions
        self.write(k_BKTD, v_BKTD, pos_T)
        return self.k_BKSD, self.v_BKSD, self.pos_S


class KVCache:
    """Per-layer caches for one batch of sequences; `next_position` is advanced by whoever drives decoding."""

    def __init__(self, layers: list[LayerCache | None], max_len: int) -> None:
        self.layers = layers
        self.max_len = max_len
        self.next_position = 0

    @classmethod
    def allocate(cls, model, *, batch: int, max_len: int, dtype: torch.dtype | None = None) -> KVCache:
        for name, value in (("batch", batch), ("max_len", max_len)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise UserError(f"{name}={value!r}: must be an integer >= 1")
        if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
            raise UserError(f"dtype={dtype!r}: must be a floating-point torch.dtype or None")
        from sonar.model.transformer import machine_memory

        if not (hasattr(model, "config") and hasattr(model, "plans")):  # a compiled or transformed model passes
            raise UserError(f"model: expected a Llama4TextModel (sonar.build_model, sonar.load_pretrained), "
                            f"got {type(model).__name__}")
        cfg = model.config
        param = next(model.parameters())
        dtype = dtype or param.dtype
        chunk = cfg.attention_chunk_size
        # A chunked layer keeps a ring of one chunk when the sequence outgrows it; every other layer, every position.
        rings = [plan.chunked_mask and chunk is not None and chunk < max_len for plan in model.plans]
        slots = [chunk if ring else max_len for ring in rings]
        need = 2 * batch * cfg.num_key_value_heads * cfg.resolved_head_dim * sum(slots) * dtype.itemsize
        memory = machine_memory()
        if memory is not None and need > memory:  # else torch overflows or the out-of-memory killer ends the process
            raise UserError(f"batch={batch}, max_len={max_len}: the cache needs {need / 1e9:,.0f} GB, more than this "
                            f"machine's {memory / 1e9:,.0f} GB of memory")
        layers = [
            LayerCache(batch=batch, kv_heads=cfg.num_key_value_heads, slots=n, head_dim=cfg.resolved_head_dim,
                       ring=ring, dtype=dtype, device=param.device)
            for ring, n in zip(rings, slots, strict=True)
        ]
        return cls(layers, max_len)

    def nbytes(self) -> int:
        return sum(c.k_BKSD.nbytes + c.v_BKSD.nbytes for c in self.layers if c is not None)
