"""What an engine profile leaves for the KV cache, and the context and concurrency that fit in it.

Per GPU, with u the profile's memory utilisation for this GPU count:

    kv_budget = u * capacity - weights / gpus - unmodelled_overhead
                [- activations - cuda_graph_reserve   when they come out of the fraction (vLLM)]
    activations = workspace per token (sonar.plan.memory.Workspace) * step tokens
                  (max_num_batched_tokens, or batch * context when the whole prompt runs at once)

A sequence of L tokens holds ceil(L / block_size) pages on every layer, or, where the engine caps
chunked layers, at most ceil(chunk / block_size) pages on those. KV heads per GPU are
ceil(kv_heads / gpus) when heads are replicated (more GPUs than heads), else an even split. When
activations live outside the fraction (SGLang) they must fit in the (1 - u) left, or nothing fits.

Every quantity is monotone in the context and in the batch, so the maxima are found by bisection.
Each assumption's cost is measured by switching it off and solving again (`assumptions`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sonar.model.layout import layer_plans
from sonar.plan.bisect import MAX_BATCH, largest
from sonar.plan.engine_profile import EngineProfile
from sonar.plan.formats import ceil_div
from sonar.plan.gpus import GpuType
from sonar.plan.memory import Workspace, kv_dtype_bytes
from sonar.plan.source import ModelSpec
from sonar.plan.units import MAX_TOKENS


@dataclass(kw_only=True, frozen=True)
class EngineMemory:
    """One profile applied to one model on one GPU type and count: the solver's pieces, per GPU."""

    profile: EngineProfile
    capacity: int
    gpus: int
    weights: int
    managed: int  # u * capacity
    workspace: Workspace
    kv_heads: int  # the model's, all GPUs
    kv_bytes_per_head_token: int  # K and V of one head for one token in one layer
    n_global: int
    n_chunked: int
    chunk_size: int | None
    max_position_embeddings: int

    @classmethod
    def build(cls, spec: ModelSpec, profile: EngineProfile, *, gpu: GpuType, gpus: int, weight_bytes: int,
              kv_dtype: str) -> EngineMemory:
        config = spec.config
        plans = layer_plans(config)
        n_chunked = sum(p.chunked_mask for p in plans)
        return cls(
            profile=profile, capacity=gpu.memory_bytes, gpus=gpus, weights=ceil_div(weight_bytes, gpus),
            managed=int(gpu.memory_bytes * profile.memory_utilization(gpus)),
            workspace=Workspace.from_config(config), kv_heads=config.num_key_value_heads,
            kv_bytes_per_head_token=2 * config.resolved_head_dim * kv_dtype_bytes(kv_dtype),
            n_global=len(plans) - n_chunked, n_chunked=n_chunked,
            chunk_size=config.attention_chunk_size if n_chunked else None,
            max_position_embeddings=config.max_position_embeddings,
        )

    @property
    def kv_per_layer_per_token(self) -> int:
        """Per GPU: ceil(heads / gpus) heads when replicated, else an even (fractional) split."""
        if self.profile.replicate_kv_heads:
            return ceil_div(self.kv_heads, self.gpus) * self.kv_bytes_per_head_token
        return ceil_div(self.kv_heads * self.kv_bytes_per_head_token, self.gpus)

    def with_profile(self, **changes) -> EngineMemory:
        return dataclasses.replace(self, profile=dataclasses.replace(self.profile, **changes))

    def activations(self, context: int, batch: int) -> int:
        step = self.profile.max_num_batched_tokens or batch * context
        return self.workspace.per_token * step + self.workspace.logits_bytes(batch)

    def kv_budget(self, context: int, batch: int) -> int:
        budget = self.managed - self.weights - self.profile.unmodelled_overhead_bytes
        if self.profile.activations_within_utilization:
            budget -= self.activations(context, batch) + self.profile.cuda_graph_reserve_bytes
        return budget

    def sequence_kv(self, context: int) -> int:
        """Bytes one sequence of `context` tokens holds, whole pages."""
        page = self.profile.block_size
        pages = ceil_div(context, page)
        capped = self.profile.caps_chunked_kv and self.chunk_size is not None
        chunked_pages = ceil_div(min(context, self.chunk_size), page) if capped else pages
        return self.kv_per_layer_per_token * page * (self.n_global * pages + self.n_chunked * chunked_pages)

    def outside_fraction_ok(self, context: int, batch: int) -> bool:
        if self.profile.activations_within_utilization:
            return True
        return self.activations(context, batch) + self.profile.cuda_graph_reserve_bytes <= self.capacity - self.managed

    def fits(self, context: int, batch: int = 1) -> bool:
        return (batch * self.sequence_kv(context) <= self.kv_budget(context, batch)
                and self.outside_fraction_ok(context, batch))

    def max_context_by_memory(self, batch: int = 1) -> int | None:
        """The largest context whose KV fits (0: none; None: unbounded), before the model's limit."""
        if self.fits(MAX_TOKENS, batch):
            return None
        return largest(lambda c: self.fits(c, batch), MAX_TOKENS)

    def max_context(self, batch: int = 1) -> int:
        by_memory = self.max_context_by_memory(batch)
        return self.max_position_embeddings if by_memory is None else min(by_memory, self.max_position_embeddings)

    def max_batch(self, context: int) -> int:
        """Concurrent sequences of `context` tokens that fit (0 when not even one does)."""
        return largest(lambda b: self.fits(context, b), MAX_BATCH)


@dataclass(kw_only=True, frozen=True)
class Assumption:
    name: str
    bit: bool
    bytes_per_gpu: int | None  # what it takes from each card, where it is a reserve
    tokens_lost: int | None  # how much longer the maximum context would be without it
    note: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def assumptions(memory: EngineMemory, batch: int = 1) -> list[Assumption]:
    """Each assumption of the profile, what it costs at this batch, and whether it bit: whether
    switching it off changes the maximum context (the model's limit bites when it binds)."""
    p, base = memory.profile, memory.max_context(batch)

    def gain(changed: EngineMemory) -> int:
        return changed.max_context(batch) - base

    step_note = (f"{p.max_num_batched_tokens:,} batched tokens" if p.max_num_batched_tokens
                 else "the whole prompt in one step")
    withheld = memory.capacity - memory.managed
    heads = ceil_div(memory.kv_heads, memory.gpus)
    heads_note = (f"{heads} of {memory.kv_heads} KV heads per GPU" + (
        " (replicated: more GPUs than KV heads)" if p.replicate_kv_heads and heads * memory.gpus > memory.kv_heads
        else ""))
    by_memory = memory.max_context_by_memory(batch)
    found = [
        Assumption(name="memory_utilization", bit=False, bytes_per_gpu=withheld,
                   tokens_lost=gain(dataclasses.replace(memory, managed=memory.capacity)),
                   note=f"the engine manages {p.memory_utilization(memory.gpus):.0%} of each card"),
        Assumption(name="activations", bit=False, bytes_per_gpu=memory.activations(base or 1, batch),
                   tokens_lost=gain(dataclasses.replace(memory, workspace=dataclasses.replace(
                       memory.workspace, per_token=0, logits_per_sequence=0))),
                   note=f"profile step of {step_note}, " + ("inside the fraction" if p.activations_within_utilization
                                                           else "outside the fraction")),
        Assumption(name="cuda_graph_reserve", bit=False,
                   bytes_per_gpu=p.cuda_graph_reserve_bytes,
                   tokens_lost=gain(memory.with_profile(cuda_graph_reserve_gb=0.0)), note="CUDA graph memory"),
        Assumption(name="unmodelled_overhead", bit=False,
                   bytes_per_gpu=p.unmodelled_overhead_bytes,
                   tokens_lost=gain(memory.with_profile(unmodelled_overhead_gb=0.0)),
                   note=f"calibrated on {list(p.calibrated_on)}" if p.calibrated_on else "not calibrated"),
        Assumption(name="block_rounding", bit=False, bytes_per_gpu=None,
                   tokens_lost=gain(memory.with_profile(block_size=1)),
                   note=f"KV in pages of {p.block_size} tokens"),
        Assumption(name="chunked_kv_not_capped", bit=False, bytes_per_gpu=None,
                   tokens_lost=gain(memory.with_profile(caps_chunked_kv=True)) if memory.n_chunked else 0,
                   note=("chunked layers capped at the chunk" if p.caps_chunked_kv
                         else f"{memory.n_chunked} chunked layers hold the full context")),
        Assumption(name="kv_head_replication", bit=False, bytes_per_gpu=None,
                   tokens_lost=gain(memory.with_profile(replicate_kv_heads=False)),
                   note=heads_note),
        Assumption(name="max_position_embeddings", bit=by_memory is None or by_memory > base,
                   bytes_per_gpu=None, tokens_lost=None,
                   note=f"the model's limit {memory.max_position_embeddings:,}"),
    ]
    return [dataclasses.replace(a, bit=a.bit or bool(a.tokens_lost)) for a in found]

