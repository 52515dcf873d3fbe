"""The verdict: does a model, in a weight format, fit a number of GPUs at a context and batch?

Per GPU, with weights and KV heads split over the GPUs (tensor/expert parallel):

    need(context) = ceil(weight_bytes / gpus) + kv_per_gpu(context, batch)
                    + workspace(context, batch) + reserve
    fits          = need(context) <= gpu_bytes  and  context <= max_position_embeddings

need() is piecewise linear and non-decreasing in the context, with kinks where the chunked layers'
cache saturates (context = attention_chunk_size) and where the workspace step saturates
(batch * context = prefill_tokens). The maximum context is solved exactly, segment by segment:
on a segment need = a * context + b, so the largest context is floor((gpu_bytes - b) / a). It is
unbounded when no layer's cache grows past the last kink (every layer chunked), and then capped,
like any answer, at the model's max_position_embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

from sonar.errors import UserError
from sonar.model.params import count_parameters
from sonar.plan.bisect import MAX_BATCH, largest
from sonar.plan.formats import get_format, weight_bytes_by_component
from sonar.plan.gpus import GpuType
from sonar.plan.memory import (
    DEFAULT_PREFILL_TOKENS,
    KvLayout,
    Workspace,
    kv_heads_per_gpu,
    reserve_bytes,
)
from sonar.plan.source import ModelSpec
from sonar.plan.weights import params_by_component, weight_inventory


@dataclass(kw_only=True, frozen=True)
class MemoryModel:
    """need(context) per GPU, as the pieces the solver needs."""

    fixed: int  # weights + reserve + logits: independent of the context
    kv: KvLayout  # per GPU
    workspace: Workspace
    batch: int

    def need(self, context: int) -> int:
        return self.fixed + self.kv.bytes(context, self.batch) + self.workspace.activation_bytes(context, self.batch)

    def max_context(self, capacity: int) -> int | None:
        """The largest context with need <= capacity; 0 if none; None if unbounded."""
        kinks = set()
        if self.kv.chunk_size is not None and self.kv.n_chunked:
            kinks.add(self.kv.chunk_size)
        kinks.add(max(self.workspace.prefill_tokens // self.batch, 1))
        bounds = sorted(kinks)
        segments = list(zip([1] + [k + 1 for k in bounds], bounds + [None], strict=True))
        for lo, hi in segments:
            if hi is not None and hi < lo:
                continue
            a, b = self._linear_piece(lo)
            if a * lo + b > capacity:
                return lo - 1
            if a == 0:
                if hi is None:
                    return None
                continue
            best = (capacity - b) // a
            if hi is None or best < hi:
                return best
        raise AssertionError("unreachable: the last segment is unbounded")

    def _linear_piece(self, context: int) -> tuple[int, int]:
        """(a, b) with need(c) = a * c + b on the segment that holds `context`."""
        B, kv, ws = self.batch, self.kv, self.workspace
        a, b = B * kv.global_per_token, self.fixed
        if kv.chunk_size is None or context <= kv.chunk_size:
            a += B * kv.chunked_per_token
        else:
            b += B * kv.chunked_per_token * kv.chunk_size
        if B * context <= ws.prefill_tokens:
            a += B * ws.per_token
        else:
            b += ws.per_token * ws.prefill_tokens
        return a, b


@dataclass(kw_only=True, frozen=True)
class Plan:
    model: str
    weights: str
    gpu: str
    gpus: int
    gpu_bytes: int
    batch: int
    context: int
    kv_dtype: str
    prefill_tokens: int
    max_position_embeddings: int
    params_total: int
    params_active: int
    params_by_component: dict[str, int]
    weight_bytes: int
    weight_bytes_by_component: dict[str, int]
    kv_bytes_per_token: dict[str, int]
    kv_bytes: int  # at the context and batch, all GPUs, chunk-aware
    kv_bytes_ignoring_chunking: int
    kv_bytes_chunked_layers: int
    kv_bytes_global_layers: int
    per_gpu: dict[str, int]
    fits: bool
    reason: str
    max_context: int  # fits memory and the model's positions
    max_context_by_memory: int | None  # None: unbounded
    max_context_ignoring_chunking: int
    max_batch_at_context: int  # sequences of `context` tokens that fit at once (0: not even one)

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def plan_deployment(
    spec: ModelSpec,
    *,
    weights: str,
    gpu: GpuType,
    gpus: int = 1,
    context: int | None = None,
    batch: int = 1,
    kv_dtype: str = "bf16",
    reserve_gb: float | None = None,
    prefill_tokens: int = DEFAULT_PREFILL_TOKENS,
) -> Plan:
    for name, value, kind in (("spec", spec, ModelSpec), ("gpu", gpu, GpuType)):
        if not isinstance(value, kind):  # load_model_spec and parse_gpu make them from a name
            raise UserError(f"{name}={value!r}: must be a {kind.__name__} (from load_model_spec / parse_gpu)")
    if reserve_gb is not None and (isinstance(reserve_gb, bool) or not isinstance(reserve_gb, int | float)):
        raise UserError(f"--reserve-gb {reserve_gb!r}: must be a number")
    config = spec.config
    context = config.max_position_embeddings if context is None else context
    _check_positive(gpus=gpus, context=context, batch=batch, prefill_tokens=prefill_tokens)
    _check_at_most(MAX_BATCH, gpus=gpus, batch=batch, prefill_tokens=prefill_tokens)
    weight_format = get_format(weights)
    inventory = weight_inventory(config, spec.vision)
    by_component = weight_bytes_by_component(inventory, weight_format, config)
    weight_bytes = sum(by_component.values())
    params = params_by_component(inventory)
    kv_total = KvLayout.from_config(config, kv_dtype)
    kv_gpu = KvLayout.from_config(config, kv_dtype, kv_heads=kv_heads_per_gpu(config, gpus))
    workspace = Workspace.from_config(config, prefill_tokens)
    reserve = reserve_bytes(gpu.memory_bytes, reserve_gb)
    weights_per_gpu = -(-weight_bytes // gpus)
    fixed = weights_per_gpu + reserve + workspace.logits_bytes(batch)
    memory = MemoryModel(fixed=fixed, kv=kv_gpu, workspace=workspace, batch=batch)
    unchunked = MemoryModel(
        fixed=fixed, batch=batch, workspace=workspace,
        kv=KvLayout(per_layer_per_token=kv_gpu.per_layer_per_token, n_global=kv_gpu.n_global + kv_gpu.n_chunked,
                    n_chunked=0, chunk_size=None),
    )
    need = memory.need(context)

    def fits_batch(n: int) -> bool:
        fixed_n = weights_per_gpu + reserve + workspace.logits_bytes(n)
        return MemoryModel(fixed=fixed_n, kv=kv_gpu, workspace=workspace, batch=n).need(context) <= gpu.memory_bytes
    by_memory = memory.max_context(gpu.memory_bytes)
    max_pos = config.max_position_embeddings
    fits_memory = need <= gpu.memory_bytes
    if not fits_memory:
        reason = f"needs {need / 1e9:.1f} GB per GPU, has {gpu.memory_bytes / 1e9:.1f} GB"
    elif context > max_pos:
        reason = f"context {context:,} exceeds the model's max_position_embeddings {max_pos:,}"
    else:
        reason = f"uses {need / 1e9:.1f} of {gpu.memory_bytes / 1e9:.1f} GB per GPU"
    return Plan(
        model=spec.name, weights=weight_format.name, gpu=gpu.name, gpus=gpus, gpu_bytes=gpu.memory_bytes,
        batch=batch, context=context, kv_dtype=kv_dtype, prefill_tokens=prefill_tokens,
        max_position_embeddings=max_pos,
        params_total=sum(params.values()),
        params_active=count_parameters(config).active,
        params_by_component=params,
        weight_bytes=weight_bytes,
        weight_bytes_by_component=by_component,
        kv_bytes_per_token={
            "per_layer": kv_total.per_layer_per_token,
            "global_layers": kv_total.global_per_token,
            "chunked_layers_within_chunk": kv_total.chunked_per_token,
            "ignoring_chunking": kv_total.per_layer_per_token * (kv_total.n_global + kv_total.n_chunked),
            "n_global_layers": kv_total.n_global,
            "n_chunked_layers": kv_total.n_chunked,
            "chunk_size": kv_total.chunk_size,
        },
        kv_bytes=kv_total.bytes(context, batch),
        kv_bytes_ignoring_chunking=kv_total.bytes_ignoring_chunking(context, batch),
        kv_bytes_chunked_layers=kv_total.chunked_bytes(context, batch),
        kv_bytes_global_layers=kv_total.global_bytes(context, batch),
        per_gpu={
            "weights": weights_per_gpu,
            "kv_cache": kv_gpu.bytes(context, batch),
            "workspace": workspace.bytes(context, batch),
            "reserve": reserve,
            "total": need,
            "capacity": gpu.memory_bytes,
        },
        fits=fits_memory and context <= max_pos,
        reason=reason,
        max_context=min(max_pos, by_memory) if by_memory is not None else max_pos,
        max_context_by_memory=by_memory,
        max_context_ignoring_chunking=min(max_pos, unchunked.max_context(gpu.memory_bytes)),
        max_batch_at_context=largest(fits_batch, MAX_BATCH) if context <= max_pos else 0,  # past the model's limit
    )


def _check_at_most(most: int, **values: int) -> None:
    """Counts past any deployment (a typo such as 10**21 GPUs) are refused rather than planned."""
    for name, value in values.items():
        if value > most:
            raise UserError(f"--{name.replace('_', '-')} {value}: must be at most {most:,}")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            flag = "--" + name.replace("_", "-")
            raise UserError(f"{flag} {value!r}: must be a positive integer")
