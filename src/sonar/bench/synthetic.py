"""A deterministic synthetic table: modelled curves and costs, for tests and for trying replay.

Nothing here is measured. The model is shaped like the real thing so schedulers face the same
difficulties: L(t) = a + b·t^(-c) with larger models reaching a lower floor `a` but starting higher
(curves cross); training cost per step grows with active parameters; decode latency grows with the
bytes read and shrinks with the knobs (weight format, compile, MoE dispatch, attention kernel,
threads); compiled trials cost tens of seconds; some combinations fail; int4 costs quality.

`Structure` varies what makes a table hard (late bloomers, dear or cheap tuning, noisy curves, a
compiled finalist far faster than the eager sweep, how far apart latencies lie, where the bound
sits); left at None, the table is exactly the original model above.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from sonar.bench.space import ARCHITECTURE_SPACE, geometric_checkpoints, sample_architectures
from sonar.bench.table import BenchTable, CandidateRecord, TableHeader
from sonar.interfaces import CurvePoint, TuningPoint
from sonar.model.config import ModelConfig
from sonar.model.params import count_parameters

KNOB_SPACE: dict[str, list] = {
    "weight_format": ["fp32", "bf16", "int8", "int4"],
    "compile": ["none", "default", "max-autotune"],
    "moe_dispatch": ["dense", "grouped", "gather"],
    "attention": ["eager", "sdpa", "chunk_blocked"],
    "threads": [1, 2],
}
_FORMAT_SPEED = {"fp32": 1.0, "bf16": 0.62, "int8": 0.48, "int4": 0.42}
_FORMAT_QUALITY = {"fp32": 0.0, "bf16": 0.003, "int8": 0.012, "int4": 0.055}
_COMPILE_SPEED = {"none": 1.0, "default": 0.72, "max-autotune": 0.64}
_COMPILE_SECONDS = {"none": 0.0, "default": 8.0, "max-autotune": 20.0}
_ATTENTION_SPEED = {"eager": 1.12, "sdpa": 1.0, "chunk_blocked": 0.96}
TOKENS_PER_STEP = 8 * 128
_LATENCY_PIVOT_S = 1e-3  # latency_spread stretches an architecture's latency around this


@dataclass(kw_only=True, frozen=True)
class Structure:
    """What a structured synthetic table varies. The defaults reproduce the original model.

    late_bloomers: share of candidates whose curve stays among the worst early and ends best: their loss
        falls as 1 - u² in u = log(step/first)/log(last/first), so it barely moves over the first rungs
        and drops late (a power-law forecast from the early points underrates them).
    tuning_cost: every tuning trial's seconds times this (0.1: tuning is cheap next to training,
        10: dear), so tuning's share of brute force moves while the ranking stays the same.
    curve_noise: standard deviation of the val-loss noise at each checkpoint (the original: 0.01).
    compiled_gain: 0 for none; otherwise the eager sweep has no compiled configs and each trace ends with
        one compiled trial of its best eager configuration, about this many times faster (per candidate
        x e^N(0, 0.3), so sometimes slower), costing 20-30 s: the late latency gain cpu-v2 measured.
    latency_spread: exponent on each architecture's latency around 1 ms: < 1 crowds the candidates
        around the bound (feasibility shows only in the tail of a trace), > 1 spreads them apart.
    feasible_share: the table's default bound as a quantile of the candidates' best latencies,
        so about this share of the candidates can meet it (few: 0.2, many: 0.8).
    """

    late_bloomers: float = 0.0
    tuning_cost: float = 1.0
    curve_noise: float = 0.01
    compiled_gain: float = 0.0
    latency_spread: float = 1.0
    feasible_share: float = 0.5

    def __post_init__(self) -> None:
        for name, low, high in (("late_bloomers", 0.0, 1.0), ("feasible_share", 0.05, 0.95),
                                ("curve_noise", 0.0, 0.5), ("latency_spread", 0.1, 4.0)):
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"{name}={getattr(self, name)}: must lie in [{low}, {high}]")
        if not self.tuning_cost > 0:
            raise ValueError(f"tuning_cost={self.tuning_cost}: must be > 0")
        if self.compiled_gain < 0:
            raise ValueError(f"compiled_gain={self.compiled_gain}: must be >= 0 (0: no compiled trial)")


def _curve(model: ModelConfig, checkpoints: tuple[int, ...], rng: np.random.Generator,
           noise: float = 0.01) -> list[CurvePoint]:
    counts = count_parameters(model)
    capacity = math.log(counts.active / 2e5)  # 0 .. ~3.6 over the space
    floor = 2.2 + 2.4 * math.exp(-0.75 * capacity) + rng.normal(0.0, 0.04)
    floor -= 0.04 * (model.num_experts_per_tok - 1) + 0.03 * math.log2(model.num_local_experts)
    scale = 5.0 + 1.6 * capacity  # bigger models start higher: curves cross
    rate = 0.42 + rng.normal(0.0, 0.03)
    step_seconds = 0.1 + 1.5e-7 * counts.active + 5e-9 * counts.total
    points = []
    for step in checkpoints:
        val = floor + scale * step ** (-rate) + rng.normal(0.0, noise)
        points.append(CurvePoint(step=step, tokens=step * TOKENS_PER_STEP, train_loss=val - 0.03,
                                 val_loss=val, seconds=round(step * step_seconds, 3)))
    return points


def _latency(model: ModelConfig, knobs: dict, rng: np.random.Generator,
             spread: float = 1.0) -> tuple[float, str | None]:
    counts = count_parameters(model)
    seconds = 2e-4 + counts.active * 4 / 6e9 + counts.total * 0.2 / 6e9
    if spread != 1.0:  # left alone at 1, so the original tables stay bit for bit the same
        seconds = _LATENCY_PIVOT_S * (seconds / _LATENCY_PIVOT_S) ** spread
    seconds *= _FORMAT_SPEED[knobs["weight_format"]] * _COMPILE_SPEED[knobs["compile"]]
    seconds *= _ATTENTION_SPEED[knobs["attention"]] * (1.0 if knobs["threads"] == 1 else 0.66)
    experts, top_k = model.num_local_experts, model.num_experts_per_tok
    seconds *= {"dense": 1.0 + 0.08 * experts / top_k, "grouped": 1.05, "gather": 0.95}[knobs["moe_dispatch"]]
    seconds *= math.exp(rng.normal(0.0, 0.05))
    failure = None
    if knobs["compile"] == "max-autotune" and knobs["moe_dispatch"] == "grouped" and rng.random() < 0.5:
        failure = "compile error: data-dependent shapes in grouped dispatch"
    elif knobs["weight_format"] == "int4" and knobs["attention"] == "chunk_blocked" and rng.random() < 0.3:
        failure = "kernel unavailable: int4 with chunk_blocked"
    return seconds, failure


def _tuning(model: ModelConfig, max_trials: int, rng: np.random.Generator,
            structure: Structure | None = None) -> list[TuningPoint]:
    structure = structure or Structure()
    space = _EAGER_KNOB_SPACE if structure.compiled_gain else KNOB_SPACE
    names = list(space)
    grid = [dict(zip(names, values, strict=True)) for values in
            np.array(np.meshgrid(*[range(len(space[n])) for n in names])).T.reshape(-1, len(names))]
    eager_trials = max_trials - 1 if structure.compiled_gain and max_trials > 1 else max_trials
    order = rng.permutation(len(grid))[:eager_trials]
    trials, total, best = [], 0.0, math.inf
    for trial, index in enumerate(order):
        knobs = {n: space[n][int(grid[int(index)][n])] for n in names}
        latency, failure = _latency(model, knobs, rng, structure.latency_spread)
        quality = _FORMAT_QUALITY[knobs["weight_format"]] * (1.0 + 0.2 * rng.standard_normal())
        cost = 1.5 + 60 * latency + _COMPILE_SECONDS[knobs["compile"]] * model.num_hidden_layers / 4
        total += cost * structure.tuning_cost
        if failure is not None:
            latency, quality = math.inf, math.inf
        elif quality <= 0.05:
            best = min(best, latency)
        trials.append(TuningPoint(
            trial=trial, seconds=round(total, 3), config=knobs, latency_s=latency,
            spread_s=0.0 if failure else latency * 0.04, quality_delta=max(0.0, quality),
            best_latency_s=best, failure=failure))
    if structure.compiled_gain and len(trials) < max_trials:
        trials.append(_compiled_finalist(trials, structure, rng))
    return trials


_EAGER_KNOB_SPACE = {**KNOB_SPACE, "compile": ["none"]}


def _compiled_finalist(eager: list[TuningPoint], structure: Structure, rng: np.random.Generator) -> TuningPoint:
    """The best acceptable eager configuration compiled, as a tuner's compile phase would measure it."""
    acceptable = [t for t in eager if t.failure is None and t.quality_delta <= 0.05]
    finalist = min(acceptable or eager, key=lambda t: t.latency_s)
    gain = structure.compiled_gain * math.exp(rng.normal(0.0, 0.3))
    latency = finalist.latency_s / gain if math.isfinite(finalist.latency_s) else math.inf
    quality = finalist.quality_delta
    cost = (20.0 + 10.0 * rng.random() + 60 * (latency if math.isfinite(latency) else 0.0)) * structure.tuning_cost
    best = eager[-1].best_latency_s if eager else math.inf
    if math.isfinite(latency) and quality <= 0.05:
        best = min(best, latency)
    return TuningPoint(
        trial=len(eager), seconds=round((eager[-1].seconds if eager else 0.0) + cost, 3),
        config={**finalist.config, "compile": "default"}, latency_s=latency,
        spread_s=latency * 0.04 if math.isfinite(latency) else 0.0, quality_delta=quality, best_latency_s=best,
        failure=None if math.isfinite(latency) else finalist.failure)


def _late_bloomer(curve: list[CurvePoint], *, start: float, end: float, noise: float,
                  rng: np.random.Generator) -> list[CurvePoint]:
    """The same checkpoints and seconds, the loss falling from `start` to `end` as 1 - u² in log-steps."""
    first, last = curve[0].step, curve[-1].step
    points = []
    for point in curve:
        u = math.log(point.step / first) / math.log(last / first) if last > first else 1.0
        val = end + (start - end) * (1.0 - u * u) + rng.normal(0.0, noise)
        points.append(CurvePoint(step=point.step, tokens=point.tokens, train_loss=val - 0.03, val_loss=val,
                                 seconds=point.seconds))
    return points


def _with_late_bloomers(curves: list[list[CurvePoint]], share: float, seed: int,
                        noise: float) -> tuple[list[list[CurvePoint]], list[int]]:
    """Replace `share` of the curves by late bloomers: they start above 90% of the others and end
    below all of them (the best a little apart from one another)."""
    count = round(share * len(curves))
    if count == 0:
        return curves, []
    rng = np.random.default_rng([seed, 0x1A7E])
    chosen = sorted(int(i) for i in rng.permutation(len(curves))[:count])
    others = [c for i, c in enumerate(curves) if i not in chosen]
    start = float(np.quantile([c[0].val_loss for c in others or curves], 0.9)) + 0.2
    best_end = min(c[-1].val_loss for c in others or curves)
    curves = list(curves)
    for rank, index in enumerate(rng.permutation(chosen)):
        end = best_end - 0.02 - 0.12 * (rank + rng.random()) / count
        curves[int(index)] = _late_bloomer(curves[int(index)], start=start + 0.3 * rng.random(), end=end,
                                           noise=noise, rng=rng)
    return curves, chosen


def _knob_space(structure: Structure | None) -> dict:
    if structure is None or not structure.compiled_gain:
        return KNOB_SPACE
    # "space.compiles" is where a measured table's header says its tuner could compile (engine_method)
    return {**_EAGER_KNOB_SPACE, "compile_top_k": 1, "space": {"compiles": ["eager", "default"]}}


def synthetic_table(*, candidates: int = 64, max_steps: int = 512, max_trials: int = 24, seed: int = 0,
                    structure: Structure | None = None) -> BenchTable:
    """The modelled table; with a `structure`, one whose difficulty is set by its knobs (see Structure)."""
    checkpoints = geometric_checkpoints(max_steps)
    models = sample_architectures(candidates, seed=seed)
    noise = structure.curve_noise if structure else 0.01
    curves, tunings = [], []
    for index, model in enumerate(models):
        rng = np.random.default_rng([seed, index])
        curves.append(_curve(model, checkpoints, rng, noise))
        tunings.append(_tuning(model, max_trials, rng, structure))
    late = []
    if structure is not None:
        curves, late = _with_late_bloomers(curves, structure.late_bloomers, seed, noise)
    records = [CandidateRecord(id=f"c{index:03d}", model=model, curve=tuple(curve), tuning=tuple(tuning))
               for index, (model, curve, tuning) in enumerate(zip(models, curves, tunings, strict=True))]
    provenance = {"synthetic": True, "generator": "sonar.bench.synthetic", "seed": seed,
                  "note": "modelled curves and costs, nothing measured", "cpu_model": "synthetic",
                  "cores": 0, "torch_version": "n/a", "corpus": "none", "seeds": {"sampling": seed}}
    if structure is not None:
        provenance["structure"] = dataclasses.asdict(structure)
        provenance["late_bloomers"] = [records[i].id for i in late]
    header = TableHeader(
        synthetic=True, provenance=provenance, architecture_space=ARCHITECTURE_SPACE,
        knob_space=_knob_space(structure),
        objective={"mode": "constraint",
                   "latency_limit_quantile": structure.feasible_share if structure else 0.5,
                   "quality_delta_max": 0.05},
        checkpoints=checkpoints, max_trials=max_trials,
    )
    return BenchTable(header=header, candidates=tuple(records))
