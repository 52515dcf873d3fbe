"""Serving at a context and concurrency: how many sequences fit, and a decode-speed roofline.

Decode is bandwidth-bound: each step every GPU streams its share of the weights the step touches
plus the KV cache of every sequence it serves. For B sequences at context L on G GPUs:

    weights_read = non-expert weights + n_moe_layers * experts_touched(B) * mean expert bytes
    kv_read      = B * per-GPU KV of one sequence (chunked layers read at most one chunk)
    step_time    = (weights_read / G + kv_read) / hbm_bandwidth
    tokens/s     = B / step_time over the deployment, / G per GPU

Under uniform, independent routing a token picks k of E experts, so an expert escapes one token with
probability 1 - k/E and B tokens touch E * (1 - (1 - k/E)^B) distinct experts: for Maverick
(k=1, E=128) that is 1 expert at B=1 and 111 at B=256, not 128 from the first token. The vision
tower and the embedding table (B rows are read) are left out. Weights are assumed evenly split.

It is a bound, not a promise: kernels reach a fraction of peak bandwidth, attention and routing
skew add time, and compute binds at large batches.
"""

from __future__ import annotations

from dataclasses import dataclass

from sonar.model.config import ModelConfig
from sonar.model.layout import layer_plans
from sonar.plan.memory import KvLayout, kv_heads_per_gpu

BOUND_NOTE = ("an upper bound from HBM bandwidth (weights touched + KV read per step), not a promise: "
              "real kernels reach a fraction of peak and compute binds at large batches")
NOT_READ_AT_DECODE = ("vision", "embedding")


def experts_touched(num_experts: int, top_k: int, batch: int) -> float:
    """Expected distinct experts one MoE layer runs for `batch` tokens under uniform routing."""
    return num_experts * (1 - (1 - top_k / num_experts) ** batch)


@dataclass(kw_only=True, frozen=True)
class DecodeRoofline:
    batch: int
    context: int
    experts_touched_per_moe_layer: float | None  # None for a dense model
    weight_bytes_read_per_step: int  # all GPUs together
    kv_bytes_read_per_step_per_gpu: int
    hbm_bytes_per_s: float | None
    tokens_per_s_per_gpu: float | None  # None without a bandwidth
    tokens_per_s_per_sequence: float | None
    note: str = BOUND_NOTE

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def decode_roofline(config: ModelConfig, weight_bytes_by_component: dict[str, int], *, context: int, batch: int,
                    gpus: int, kv_dtype: str, hbm_bytes_per_s: float | None) -> DecodeRoofline:
    n_moe = sum(p.is_moe for p in layer_plans(config))
    routed = weight_bytes_by_component.get("routed_experts", 0)
    shared_reads = sum(b for name, b in weight_bytes_by_component.items()
                       if name not in NOT_READ_AT_DECODE and name != "routed_experts")
    if config.tie_word_embeddings:  # the head multiplies by the embedding table: all of it is read
        shared_reads += weight_bytes_by_component.get("embedding", 0)
    touched = experts_touched(config.num_local_experts, config.num_experts_per_tok, batch) if n_moe else None
    expert_reads = routed / config.num_local_experts * touched if n_moe else 0
    weight_reads = int(shared_reads + expert_reads)
    kv = KvLayout.from_config(config, kv_dtype, kv_heads=kv_heads_per_gpu(config, gpus))
    kv_reads = batch * kv.bytes(context)
    tokens_per_s = per_sequence = None
    if hbm_bytes_per_s is not None:
        step_s = (weight_reads / gpus + kv_reads) / hbm_bytes_per_s
        tokens_per_s = batch / step_s / gpus
        per_sequence = 1 / step_s
    return DecodeRoofline(
        batch=batch, context=context, experts_touched_per_moe_layer=touched, weight_bytes_read_per_step=weight_reads,
        kv_bytes_read_per_step_per_gpu=kv_reads, hbm_bytes_per_s=hbm_bytes_per_s,
        tokens_per_s_per_gpu=tokens_per_s, tokens_per_s_per_sequence=per_sequence,
    )
