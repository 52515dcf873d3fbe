"""Memory other than weights: the KV cache, an activation/workspace estimate, and the runtime reserve.

KV cache (per sequence). Each layer stores a key and a value per KV head per token:

    per_layer_per_token = 2 * num_key_value_heads * head_dim * kv_dtype_bytes

Global layers (NoPE, global causal mask) keep every token of the context. Chunked layers (RoPE,
chunked mask) only ever attend within the current chunk, so their cache is a ring of
`attention_chunk_size` slots and stops growing there:

    kv(context) = batch * per_layer_per_token * (n_global * context + n_chunked * min(context, chunk))

A planner that ignored chunking would count `batch * per_layer_per_token * n_layers * context`.
For Scout in bf16: 4 KiB per layer per token; 12 global layers hold 48 KiB a token (515 GB at
10,485,760 tokens); the 36 chunked layers hold at most 8,192 tokens each (1.2 GB); ignoring
chunking would count 2.06 TB. fp8 KV is 1 byte an element (per-tensor scales are negligible).

Under tensor parallelism each GPU holds ceil(num_key_value_heads / gpus) KV heads: past that many
GPUs the heads are replicated, not split further.

Workspace (per GPU). One forward step over `step = min(batch * context, prefill_tokens)` tokens
(chunked prefill, the engine's token budget per step) keeps, per token, in bf16: the residual and
its normed copy (2D), queries and attention output (2 * H * hd), keys and values (2 * K * hd), and
the widest FFN's intermediates (gate, up and product: 3 * F_mlp for a dense layer, 3 * F for each of
the top-k routed experts and the shared expert of an MoE layer). Plus fp32 logits for one position
per sequence. Flash-style attention is assumed (no score matrix). The estimate is not divided by
the GPU count: conservative under tensor parallelism.

Reserve (per GPU). CUDA context, communication buffers, allocator fragmentation, CUDA graphs:
10% of the card by default (what vLLM's default gpu_memory_utilization=0.9 leaves), or a figure
given in GB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sonar.errors import UserError
from sonar.model.config import ModelConfig
from sonar.model.layout import layer_plans

KV_DTYPE_BYTES = {"bf16": 2, "fp8": 1}
ACTIVATION_BYTES = 2  # bf16 activations
LOGIT_BYTES = 4  # fp32 logits
DEFAULT_RESERVE_FRACTION = 0.10
DEFAULT_PREFILL_TOKENS = 8192


def kv_dtype_bytes(name: str) -> int:
    try:
        return KV_DTYPE_BYTES[name]
    except (KeyError, TypeError):  # TypeError: a list or another unhashable value
        raise UserError(f"unknown KV cache dtype {name!r}; choose one of {list(KV_DTYPE_BYTES)}") from None


@dataclass(kw_only=True, frozen=True)
class KvLayout:
    per_layer_per_token: int  # bytes, all heads this layout covers
    n_global: int
    n_chunked: int
    chunk_size: int | None  # None when no layer is chunked

    @classmethod
    def from_config(cls, config: ModelConfig, kv_dtype: str, kv_heads: int | None = None) -> KvLayout:
        heads = config.num_key_value_heads if kv_heads is None else kv_heads
        plans = layer_plans(config)
        n_chunked = sum(p.chunked_mask for p in plans)
        return cls(
            per_layer_per_token=2 * heads * config.resolved_head_dim * kv_dtype_bytes(kv_dtype),
            n_global=len(plans) - n_chunked,
            n_chunked=n_chunked,
            chunk_size=config.attention_chunk_size if n_chunked else None,
        )

    @property
    def global_per_token(self) -> int:
        return self.n_global * self.per_layer_per_token

    @property
    def chunked_per_token(self) -> int:
        """Per token of context while the context is within one chunk; nothing beyond it."""
        return self.n_chunked * self.per_layer_per_token

    def chunked_tokens(self, context: int) -> int:
        return context if self.chunk_size is None else min(context, self.chunk_size)

    def global_bytes(self, context: int, batch: int = 1) -> int:
        return batch * self.global_per_token * context

    def chunked_bytes(self, context: int, batch: int = 1) -> int:
        return batch * self.chunked_per_token * self.chunked_tokens(context)

    def bytes(self, context: int, batch: int = 1) -> int:
        return self.global_bytes(context, batch) + self.chunked_bytes(context, batch)

    def bytes_ignoring_chunking(self, context: int, batch: int = 1) -> int:
        return batch * (self.n_global + self.n_chunked) * self.per_layer_per_token * context


def kv_heads_per_gpu(config: ModelConfig, gpus: int) -> int:
    return -(-config.num_key_value_heads // gpus)


@dataclass(kw_only=True, frozen=True)
class Workspace:
    per_token: int  # activation bytes per token in flight
    logits_per_sequence: int
    prefill_tokens: int

    @classmethod
    def from_config(cls, config: ModelConfig, prefill_tokens: int = DEFAULT_PREFILL_TOKENS) -> Workspace:
        D, hd = config.hidden_size, config.resolved_head_dim
        H, K = config.num_attention_heads, config.num_key_value_heads
        widths = [
            3 * config.intermediate_size * (config.num_experts_per_tok + 1) if p.is_moe
            else 3 * config.intermediate_size_mlp
            for p in layer_plans(config)
        ]
        per_token_elements = 2 * D + 2 * H * hd + 2 * K * hd + max(widths)
        return cls(
            per_token=ACTIVATION_BYTES * per_token_elements,
            logits_per_sequence=LOGIT_BYTES * config.vocab_size,
            prefill_tokens=prefill_tokens,
        )

    def step_tokens(self, context: int, batch: int) -> int:
        return min(batch * context, self.prefill_tokens)

    def activation_bytes(self, context: int, batch: int = 1) -> int:
        return self.per_token * self.step_tokens(context, batch)

    def logits_bytes(self, batch: int = 1) -> int:
        return batch * self.logits_per_sequence

    def bytes(self, context: int, batch: int = 1) -> int:
        return self.activation_bytes(context, batch) + self.logits_bytes(batch)


def reserve_bytes(gpu_bytes: int, reserve_gb: float | None) -> int:
    if reserve_gb is None:
        return int(gpu_bytes * DEFAULT_RESERVE_FRACTION)
    if not 0 <= reserve_gb < math.inf:  # NaN fails every comparison
        raise UserError(f"--reserve-gb {reserve_gb}: must be a finite number >= 0")
    if reserve_gb * 10**9 >= gpu_bytes:  # compared before int(): a huge float would overflow to inf
        raise UserError(f"--reserve-gb {reserve_gb}: must be below the GPU's {gpu_bytes / 10**9:.1f} GB")
    return int(reserve_gb * 10**9)
