"""The verdict under an engine profile: the exact plan's model and weights, the engine's budget."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sonar.plan.engine_fit import Assumption, EngineMemory, assumptions
from sonar.plan.engine_profile import EngineProfile
from sonar.plan.fit import Plan
from sonar.plan.gpus import GpuType
from sonar.plan.source import ModelSpec


@dataclass(kw_only=True, frozen=True)
class EnginePlan:
    engine: str
    version: str
    summary: str
    parameters: dict
    fits: bool
    reason: str
    max_context: int
    max_context_by_memory: int | None  # None: unbounded
    max_batch_at_context: int
    per_gpu: dict[str, int]
    assumptions: list[Assumption]

    @property
    def assumptions_that_bit(self) -> list[str]:
        return [a.name for a in self.assumptions if a.bit]

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["assumptions"] = [a.to_dict() for a in self.assumptions]
        data["assumptions_that_bit"] = self.assumptions_that_bit
        return data


def plan_engine(spec: ModelSpec, plan: Plan, profile: EngineProfile, *, gpu: GpuType) -> EnginePlan:
    memory = EngineMemory.build(spec, profile, gpu=gpu, gpus=plan.gpus, weight_bytes=plan.weight_bytes,
                                kv_dtype=plan.kv_dtype)
    context, batch = plan.context, plan.batch
    budget, kv = memory.kv_budget(context, batch), batch * memory.sequence_kv(context)
    fits_memory = memory.fits(context, batch)
    if not memory.outside_fraction_ok(context, batch):
        reason = (f"activations ({memory.activations(context, batch) / 1e9:.1f} GB) exceed the "
                  f"{(memory.capacity - memory.managed) / 1e9:.1f} GB left outside the engine's fraction")
    elif not fits_memory:
        reason = f"KV needs {kv / 1e9:.1f} GB per GPU; the engine leaves {max(budget, 0) / 1e9:.1f} GB for it"
    elif context > plan.max_position_embeddings:
        reason = f"context {context:,} exceeds the model's max_position_embeddings {plan.max_position_embeddings:,}"
    else:
        reason = f"KV uses {kv / 1e9:.1f} of the {budget / 1e9:.1f} GB per GPU the engine leaves for it"
    parameters = {f.name: getattr(profile, f.name) for f in dataclasses.fields(profile)
                  if f.name not in ("engine", "version", "summary")}
    parameters["memory_utilization"] = profile.memory_utilization(plan.gpus)
    return EnginePlan(
        engine=profile.engine, version=profile.version, summary=profile.summary, parameters=parameters,
        fits=fits_memory and context <= plan.max_position_embeddings, reason=reason,
        max_context=memory.max_context(batch), max_context_by_memory=memory.max_context_by_memory(batch),
        max_batch_at_context=memory.max_batch(context) if context <= plan.max_position_embeddings else 0,
        per_gpu={
            "capacity": memory.capacity, "managed_by_engine": memory.managed, "weights": memory.weights,
            "activations": memory.activations(context, batch),
            "cuda_graph_reserve": profile.cuda_graph_reserve_bytes,
            "unmodelled_overhead": profile.unmodelled_overhead_bytes,
            "kv_budget": budget, "kv_cache": kv,
        },
        assumptions=assumptions(memory, batch),
    )
