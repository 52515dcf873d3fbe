"""Engine profiles against the facts they were published with: each prediction next to its figure.

A maximum-context fact is met when the prediction is within TOLERANCE of it (relative); a verdict
fact when the predicted verdict at its context agrees. Facts a profile was calibrated on are marked,
so the table says which rows test the profile and which only reproduce its fit. A profile's free
parameter, the unmodelled overhead, is what `calibrated_overhead_gb` solves for on its fact.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sonar.plan.engine_fit import EngineMemory
from sonar.plan.engine_profile import ENGINES, EXACT, EngineProfile, PublishedFact, engine_file, get_profile
from sonar.plan.formats import get_format, weight_bytes_by_component
from sonar.plan.gpus import parse_gpu
from sonar.plan.source import ModelSpec, load_model_spec
from sonar.plan.weights import weight_inventory

TOLERANCE = 0.25
_GB = 10**9


def model_weight_bytes(spec: ModelSpec, weights: str) -> int:
    config = spec.config
    return sum(weight_bytes_by_component(weight_inventory(config, spec.vision), get_format(weights), config).values())


def fact_memory(fact: PublishedFact, profile: EngineProfile | None = None) -> EngineMemory:
    spec = load_model_spec(fact.model)
    return EngineMemory.build(spec, profile or get_profile(fact.engine, fact.version), gpu=parse_gpu(fact.gpu),
                              gpus=fact.gpus, weight_bytes=model_weight_bytes(spec, fact.weights), kv_dtype="bf16")


def calibrated_overhead_gb(fact: PublishedFact) -> float:
    """The overhead (GB per GPU, to 0.1 GB) at which the profile's maximum context is the fact's."""
    memory = fact_memory(fact)
    free = fact_memory(fact, dataclasses.replace(memory.profile, unmodelled_overhead_gb=0.0))
    spare = free.kv_budget(fact.max_context, 1) - free.sequence_kv(fact.max_context)
    return round(spare / _GB, 1)


@dataclass(kw_only=True, frozen=True)
class Check:
    fact: PublishedFact
    calibrated_on: bool
    published: str
    predicted: str
    error: float | None  # predicted / published - 1, for a maximum context
    met: bool
    binding: str  # what limits the prediction: the engine's KV budget or the model's positions

    def to_dict(self) -> dict:
        f = self.fact
        return {"id": f.id, "engine": f.engine, "version": f.version, "model": f.model, "weights": f.weights,
                "gpu": f"{f.gpus}x {f.gpu}", "published": self.published, "predicted": self.predicted,
                "error": self.error, "met": self.met, "calibrated_on": self.calibrated_on, "binding": self.binding,
                "source": f.source}


def check(fact: PublishedFact) -> Check:
    memory = fact_memory(fact)
    calibrated = fact.id in memory.profile.calibrated_on
    if fact.max_context is not None:
        by_memory = memory.max_context_by_memory()
        predicted = memory.max_context()
        error = predicted / fact.max_context - 1
        binding = "model" if by_memory is None or by_memory > predicted else "engine"
        return Check(fact=fact, calibrated_on=calibrated, published=f"{fact.max_context:,}",
                     predicted=f"{predicted:,}", error=error, met=abs(error) <= TOLERANCE, binding=binding)
    fits = memory.fits(fact.context)
    return Check(fact=fact, calibrated_on=calibrated, published=_verdict(fact.fits, fact.context),
                 predicted=_verdict(fits, fact.context), error=None, met=fits == fact.fits, binding="engine")


def _verdict(fits: bool, context: int) -> str:
    return f"{'fits' if fits else 'does not fit'} at {context:,}"


def all_checks() -> list[Check]:
    return [check(fact) for engine in ENGINES if engine != EXACT for fact in engine_file(engine).published]


def recorded_misses() -> dict[str, str]:
    return {k: v for engine in ENGINES if engine != EXACT for k, v in engine_file(engine).misses.items()}


def markdown_table(checks: list[Check]) -> str:
    """The prediction-vs-published table of docs/plan.md (`sonar plan --calibration-table`)."""
    misses = recorded_misses()
    lines = ["| fact | engine | model, weights | GPUs | published | predicted | error | within 25% | role |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in checks:
        f = c.fact
        error = "" if c.error is None else f"{c.error:+.0%}"
        role = "calibration" if c.calibrated_on else ("test, recorded miss" if f.id in misses else "test")
        lines.append(f"| {f.id} | {f.engine} {f.version} | {f.model} {f.weights} | {f.gpus}x {f.gpu} | "
                     f"{c.published} | {c.predicted} ({c.binding}) | {error} | {'yes' if c.met else 'NO'} | {role} |")
    return "\n".join(lines)
