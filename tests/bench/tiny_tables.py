"""Hand-made tables small enough to check regret by hand."""

from __future__ import annotations

import math

from sonar.bench.table import BenchTable, CandidateRecord, TableHeader
from sonar.interfaces import CurvePoint, TuningPoint
from sonar.model import preset

CHECKPOINTS = (8, 16, 32)


def curve(final: float, seconds_per_step: float = 1.0) -> tuple[CurvePoint, ...]:
    """Val loss final + 1.0, + 0.5, + 0 at the three checkpoints."""
    losses = (final + 1.0, final + 0.5, final)
    return tuple(CurvePoint(step=s, tokens=s * 64, train_loss=v, val_loss=v, seconds=s * seconds_per_step)
                 for s, v in zip(CHECKPOINTS, losses, strict=True))


def tuning(latencies: list[float], quality: list[float] | None = None, cost: float = 2.0) -> tuple[TuningPoint, ...]:
    quality = quality or [0.0] * len(latencies)
    points, best = [], math.inf
    for i, (latency, q) in enumerate(zip(latencies, quality, strict=True)):
        failure = "failed" if math.isinf(latency) else None
        if failure is None:
            best = min(best, latency)
        points.append(TuningPoint(trial=i, seconds=cost * (i + 1), config={"variant": i}, latency_s=latency,
                                  spread_s=0.0, quality_delta=q, best_latency_s=best, failure=failure))
    return tuple(points)


def table(rows: list[tuple[str, float, list[float]]], quality: dict | None = None) -> BenchTable:
    """rows: (id, final val loss, latencies of its recorded configs)."""
    quality = quality or {}
    base = preset("debug")
    records = [CandidateRecord(id=cid, model=base.replace(num_hidden_layers=2 + i), curve=curve(loss),
                               tuning=tuning(lat, quality.get(cid)))
               for i, (cid, loss, lat) in enumerate(rows)]
    header = TableHeader(synthetic=True, provenance={"synthetic": True}, architecture_space={}, knob_space={},
                         objective={"mode": "constraint", "latency_limit_s": 1.0, "quality_delta_max": 0.05},
                         checkpoints=CHECKPOINTS, max_trials=3)
    return BenchTable(header=header, candidates=tuple(records))
