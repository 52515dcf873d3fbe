"""A deterministic synthetic table: modelled curves and costs, for tests and for trying replay.

Nothing here is measured. The model is shaped like the real thing so schedulers face the same
difficulties: L(t) = a + b·t^(-c) with larger models reaching a lower floor `a` but starting higher
(curves cross); training cost per step grows with active parameters; decode latency grows with the
bytes read and shrinks with the knobs (weight format, compile, MoE dispatch, attention kernel,
threads); compiled trials cost tens of seconds; some combinations fail; int4 costs quality.
"""

from __future__ import annotations

import math

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


def _curve(model: ModelConfig, checkpoints: tuple[int, ...], rng: np.random.Generator) -> list[CurvePoint]:
    counts = count_parameters(model)
    capacity = math.log(counts.active / 2e5)  # 0 .. ~3.6 over the space
    floor = 2.2 + 2.4 * math.exp(-0.75 * capacity) + rng.normal(0.0, 0.04)
    floor -= 0.04 * (model.num_experts_per_tok - 1) + 0.03 * math.log2(model.num_local_experts)
    scale = 5.0 + 1.6 * capacity  # bigger models start higher: curves cross
    rate = 0.42 + rng.normal(0.0, 0.03)
    step_seconds = 0.1 + 1.5e-7 * counts.active + 5e-9 * counts.total
    points = []
    for step in checkpoints:
        val = floor + scale * step ** (-rate) + rng.normal(0.0, 0.01)
        points.append(CurvePoint(step=step, tokens=step * TOKENS_PER_STEP, train_loss=val - 0.03,
                                 val_loss=val, seconds=round(step * step_seconds, 3)))
    return points


def _latency(model: ModelConfig, knobs: dict, rng: np.random.Generator) -> tuple[float, str | None]:
    counts = count_parameters(model)
    seconds = 2e-4 + counts.active * 4 / 6e9 + counts.total * 0.2 / 6e9
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


def _tuning(model: ModelConfig, max_trials: int, rng: np.random.Generator) -> list[TuningPoint]:
    names = list(KNOB_SPACE)
    grid = [dict(zip(names, values, strict=True)) for values in
            np.array(np.meshgrid(*[range(len(KNOB_SPACE[n])) for n in names])).T.reshape(-1, len(names))]
    order = rng.permutation(len(grid))[:max_trials]
    trials, total, best = [], 0.0, math.inf
    for trial, index in enumerate(order):
        knobs = {n: KNOB_SPACE[n][int(grid[int(index)][n])] for n in names}
        latency, failure = _latency(model, knobs, rng)
        quality = _FORMAT_QUALITY[knobs["weight_format"]] * (1.0 + 0.2 * rng.standard_normal())
        total += 1.5 + 60 * latency + _COMPILE_SECONDS[knobs["compile"]] * model.num_hidden_layers / 4
        if failure is not None:
            latency, quality = math.inf, math.inf
        elif quality <= 0.05:
            best = min(best, latency)
        trials.append(TuningPoint(
            trial=trial, seconds=round(total, 3), config=knobs, latency_s=latency,
            spread_s=0.0 if failure else latency * 0.04, quality_delta=max(0.0, quality),
            best_latency_s=best, failure=failure))
    return trials


def synthetic_table(*, candidates: int = 64, max_steps: int = 512, max_trials: int = 24, seed: int = 0) -> BenchTable:
    checkpoints = geometric_checkpoints(max_steps)
    models = sample_architectures(candidates, seed=seed)
    records = []
    for index, model in enumerate(models):
        rng = np.random.default_rng([seed, index])
        records.append(CandidateRecord(id=f"c{index:03d}", model=model, curve=tuple(_curve(model, checkpoints, rng)),
                                       tuning=tuple(_tuning(model, max_trials, rng))))
    header = TableHeader(
        synthetic=True,
        provenance={"synthetic": True, "generator": "sonar.bench.synthetic", "seed": seed,
                    "note": "modelled curves and costs, nothing measured", "cpu_model": "synthetic",
                    "cores": 0, "torch_version": "n/a", "corpus": "none", "seeds": {"sampling": seed}},
        architecture_space=ARCHITECTURE_SPACE, knob_space=KNOB_SPACE,
        objective={"mode": "constraint", "latency_limit_quantile": 0.5, "quality_delta_max": 0.05},
        checkpoints=checkpoints, max_trials=max_trials,
    )
    return BenchTable(header=header, candidates=tuple(records))
