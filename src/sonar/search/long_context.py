"""Long-context quality as a measured bound of the search (spec `objective.long_context`).

The rule: a candidate's long-context ratio is its val loss at `factor` x the training length divided by
its in-length val loss, measured by the trainer on held-out text. It costs more than a plain evaluation,
so only train jobs of the last `rungs` rungs ask for it (Job.long_factor). Then:

    a candidate whose latest measurement has ratio > max_ratio (or loss > max_loss) breaks the bound:
        it is never recommended (results.best, and the endgame's incumbent, leave it out), and a
        candidate with no measurement is not recommended either while the bound is set;
        below the last rung it is stopped as soon as the measurement comes in  [stop_early]
        at a rung where measurements exist, ranking puts it behind every candidate that does not break it

A spec without `long_context` asks for no measurement, and nothing here changes any decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sonar.search.spec_fields import SpecError, as_bool, as_int, as_number, no_unknown_keys

FACTORS = (2, 4, 8, 16)
MAX_RATIO = 1e3
# A loss is a cross-entropy in nats: a model guessing uniformly over a million tokens scores 13.8, so a loss past
# this is no measurement (benchmark tables bound theirs the same).
MAX_LOSS = 1e6


@dataclass(kw_only=True, frozen=True)
class LongContext:
    factor: int = 8  # the long length, as a multiple of the training length
    max_ratio: float | None = None  # bound on long loss / in-length loss
    max_loss: float | None = None  # bound on the long loss itself
    rungs: int = 2  # the last `rungs` rungs measure it (2: early stopping at the rung before the last)
    stop_early: bool = True  # stop a candidate below the last rung once it breaks the bound


def parse_long_context(data: object, where: str) -> LongContext | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping such as {{factor: 8, max_ratio: 1.05}}")
    no_unknown_keys(data, {"factor", "max_ratio", "max_loss", "rungs", "stop_early"}, where)
    factor = as_int(data.get("factor", 8), f"{where}.factor", low=2, high=16)
    if factor not in FACTORS:
        raise SpecError(f"{where}.factor: {factor} is not a power of two from 2 to 16 ({', '.join(map(str, FACTORS))})")
    ratio, loss = data.get("max_ratio"), data.get("max_loss")
    if ratio is None and loss is None:
        raise SpecError(f"{where}: give max_ratio (long loss / in-length loss) or max_loss, or both")
    return LongContext(
        factor=factor,
        max_ratio=None if ratio is None else as_number(ratio, f"{where}.max_ratio", positive=True, high=MAX_RATIO),
        max_loss=None if loss is None else as_number(loss, f"{where}.max_loss", positive=True, high=MAX_LOSS),
        rungs=as_int(data.get("rungs", 2), f"{where}.rungs", low=1, high=64),
        stop_early=as_bool(data.get("stop_early", True), f"{where}.stop_early"),
    )


def measures_at(bound: LongContext | None, rung: int, rungs_in_ladder: int) -> bool:
    """Whether rung `rung`'s train job asks for the long-context measurement."""
    return bound is not None and rung >= rungs_in_ladder - bound.rungs


@dataclass(frozen=True)
class LongMeasurement:
    step: int
    loss: float
    ratio: float


def latest(curve: list) -> LongMeasurement | None:
    """The last curve point that carries a long-context measurement, or None."""
    for p in reversed(curve):
        if getattr(p, "long_loss", None) is not None:
            ratio = p.long_ratio if p.long_ratio is not None else p.long_loss / p.val_loss
            return LongMeasurement(step=p.step, loss=p.long_loss, ratio=ratio)
    return None


def breaks(bound: LongContext | None, curve: list) -> str | None:
    """Why the candidate's latest measurement breaks the bound, or None (no bound, no measurement, or met)."""
    measured = latest(curve) if bound is not None else None
    if measured is None:
        return None
    if not math.isfinite(measured.loss):
        return f"long context: loss at {bound.factor}x is {measured.loss}"
    if bound.max_ratio is not None and measured.ratio > bound.max_ratio:
        return f"long context: {bound.factor}x/1x loss {measured.ratio:.4g} > {bound.max_ratio:.4g}"
    if bound.max_loss is not None and measured.loss > bound.max_loss:
        return f"long context: {bound.factor}x loss {measured.loss:.4g} > {bound.max_loss:.4g}"
    return None


def recommendable(bound: LongContext | None, curve: list) -> bool:
    """May be recommended: no bound, or a measurement that meets it."""
    return bound is None or (latest(curve) is not None and breaks(bound, curve) is None)
