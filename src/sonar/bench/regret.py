"""Regret, precisely, for each objective mode, and the cost to reach (and keep) regret <= 1%.

A *pick* is one (candidate, measured system config) pair. Recommendations are scored by their true
table values: the candidate's val loss at the last checkpoint and the config's recorded latency.

Constraint mode (minimise final val loss s.t. latency <= limit and quality delta <= max):
    f* = the lowest final loss over feasible pairs in the whole table;
    regret(pick) = (loss(pick) - f*) / |f*|   (a relative loss gap);
    no recommendation yet: regret = inf; an infeasible pick: a failure (regret inf, flagged).
Pareto mode (minimise final loss and log latency, over pairs with acceptable quality):
    both objectives normalised by the table's ideal point (per-objective minimum over all pairs) and
    nadir point (per-objective maximum over the true front), reference point (1.1, 1.1) for everyone;
    regret(set) = (HV(true front) - HV(true values of the recommended set)) / HV(true front).
Normalised gap (the stricter criterion): constraint: (loss(pick) - f*) / (worst feasible final loss - f*),
    the share of the feasible loss range; Pareto: the hypervolume gap itself (already normalised).
Rank (constraint): how many feasible candidates have a strictly lower final loss than the pick's.
Cost to regret X: the first virtual time after which every recorded regret is <= X (reach and stay).
Anytime area: the mean of min(1, gap) (inf -> 1) over log cost from brute/1000 to brute, in [0, 1].
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sonar.bench.table import MODES, BenchTable
from sonar.errors import UserError
from sonar.interfaces import TuningPoint

REFERENCE_POINT = (1.1, 1.1)


@dataclass(kw_only=True, frozen=True)
class Objective:
    mode: str
    latency_limit_s: float | None = None  # constraint mode only
    quality_delta_max: float = math.inf

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"objective mode {self.mode!r}: choose one of {list(MODES)}")
        if self.mode == "constraint" and (self.latency_limit_s is None or not 0 < self.latency_limit_s < math.inf):
            raise UserError(f"latency_limit_s={self.latency_limit_s!r}: constraint mode needs a finite limit > 0")
        if not self.quality_delta_max >= 0:
            raise UserError(f"quality_delta_max={self.quality_delta_max!r}: must be >= 0")

    def acceptable(self, trial: TuningPoint) -> bool:
        """The trial ran and kept quality: eligible for the Pareto front."""
        ran = trial.failure is None and math.isfinite(trial.latency_s)
        return ran and trial.quality_delta <= self.quality_delta_max

    def feasible(self, trial: TuningPoint) -> bool:
        if not self.acceptable(trial):
            return False
        return self.mode == "pareto" or trial.latency_s <= self.latency_limit_s


def objective_from_table(table: BenchTable, *, mode: str | None = None, latency_limit_s: float | None = None,
                         quality_delta_max: float | None = None,
                         latency_limit_quantile: float | None = None) -> Objective:
    """The table's objective defaults, with any given value overriding them. A limit given as a
    quantile (here or in the table) resolves against each candidate's best acceptable latency, so it
    always bites."""
    if latency_limit_quantile is not None and not 0 <= latency_limit_quantile <= 1:
        raise UserError(f"latency_limit_quantile={latency_limit_quantile!r}: must lie in [0, 1]")
    where = table.source or "the table"
    if mode is not None and mode not in MODES:  # '' too: an empty --mode is a slip, not "the table's"
        raise UserError(f"mode {mode!r}: choose one of {list(MODES)}")
    defaults = table.header.objective
    mode = mode or defaults.get("mode", "constraint")
    if latency_limit_s is not None:  # given (`bench replay --latency-limit`): checked before any replay starts
        _check_latency_limit(latency_limit_s, mode)
    quality = quality_delta_max if quality_delta_max is not None else defaults.get("quality_delta_max", math.inf)
    probe = Objective(mode="pareto", quality_delta_max=quality)
    if mode == "constraint" and latency_limit_s is None:
        latency_limit_s = None if latency_limit_quantile is not None else defaults.get("latency_limit_s")
        if latency_limit_s is None:
            quantile = latency_limit_quantile
            if quantile is None:
                quantile = float(defaults.get("latency_limit_quantile", 0.5))
            # over the candidates a pick can be scored on: a diverged one's latency set a bound only it met
            bests = sorted(min((t.latency_s for t in c.tuning if probe.acceptable(t)), default=math.inf)
                           for c in table.candidates if math.isfinite(c.final_val_loss))
            bests = [b for b in bests if math.isfinite(b)]
            if not bests:
                raise UserError(f"{where}: no candidate with a finite final val_loss has a tuning trial that ran "
                                f"within quality delta <= {quality:g} to set a latency limit from; raise "
                                "quality_delta_max in the header's objective")
            latency_limit_s = bests[min(len(bests) - 1, int(quantile * len(bests)))]
    objective = Objective(mode=mode, latency_limit_s=latency_limit_s if mode == "constraint" else None,
                          quality_delta_max=quality)
    meetable_candidates(table, objective, where)
    return objective


def meetable_candidates(table: BenchTable, objective: Objective, where: str) -> list:
    """The candidates a pick is scored against (scored_candidates), refused when there are none: checked when the
    objective is set, before any replay, naming the table (the Scorer met it mid-replay with no file named)."""
    scored = scored_candidates(table, objective)
    if scored:
        return scored
    if objective.mode == "constraint":
        raise UserError(f"{where}: no (model, config) pair meets latency <= {objective.latency_limit_s:g} s and "
                        f"quality delta <= {objective.quality_delta_max:g} with a finite final val_loss; nothing can "
                        "be recommended under this bound: choose a larger latency limit")
    raise UserError(f"{where}: no (model, config) pair has quality delta <= {objective.quality_delta_max:g} and a "
                    "finite final val_loss; nothing can be recommended")


def scored_candidates(table: BenchTable, objective: Objective) -> list:
    """The candidates a pick may be scored against: a finite final loss (a diverged run is never the answer) and a
    configuration that meets the objective (any acceptable one, in Pareto mode)."""
    meets = objective.feasible if objective.mode == "constraint" else objective.acceptable
    return [c for c in table.candidates if math.isfinite(c.final_val_loss) and any(meets(t) for t in c.tuning)]


def _check_latency_limit(limit: float, mode: str) -> None:
    """A latency limit given for a replay: the engine's methods take at most MAX_LATENCY_S, so every method
    is held to it (not only the engine's, which would fail mid-replay); a limit in Pareto mode would be ignored."""
    from sonar.search.spec import MAX_LATENCY_S

    if mode != "constraint":
        raise UserError(f"--latency-limit {limit}: applies to constraint mode only (the mode is {mode!r})")
    if math.isfinite(limit) and limit > MAX_LATENCY_S:  # nan, inf and <= 0: the Objective's own message
        raise UserError(f"--latency-limit {limit}: must be at most {MAX_LATENCY_S:g} seconds")


@dataclass(kw_only=True, frozen=True)
class Pick:
    candidate_id: str
    trial: int  # index into the candidate's tuning trace


@dataclass(kw_only=True, frozen=True)
class Score:
    regret: float  # normalised: relative loss gap, or relative hypervolume gap; inf before any pick
    infeasible: bool = False
    gap: float = math.inf  # the share of the feasible loss range (constraint), the hypervolume gap (Pareto)
    rank: int | None = None  # constraint: feasible candidates with a strictly lower final loss


def hypervolume_2d(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by `points` (both objectives minimised) and bounded by `reference`."""
    inside = sorted(p for p in points if p[0] < reference[0] and p[1] < reference[1])
    area, best_y = 0.0, reference[1]
    for x, y in inside:
        if y < best_y:
            area += (reference[0] - x) * (best_y - y)
            best_y = y
    return area


def non_dominated(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices (ascending) of the points no other point dominates, both objectives minimised.

    One sweep in order of the first objective: a point survives if its second objective is below
    every point before it (exact duplicates all survive, as neither dominates the other)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    keep, best_y, last = [], math.inf, None
    for i in order:
        if points[i][1] < best_y or points[i] == last:
            keep.append(i)
            best_y, last = points[i][1], points[i]
    return sorted(keep)


class Scorer:
    """Scores recommendations against one table under one objective (precomputed truths)."""

    def __init__(self, table: BenchTable, objective: Objective):
        self.table, self.objective = table, objective
        scored = meetable_candidates(table, objective, table.source or "the table")
        if objective.mode == "constraint":
            # a diverged candidate is not among them: its infinite loss made the loss range infinite, and every gap 0
            feasible = [c.final_val_loss for c in scored]
            self.best_loss = min(feasible)
            self.feasible_losses = sorted(feasible)
            self.loss_range = (max(feasible) - self.best_loss) or 1.0
        else:
            points = [self._true_point(c.id, i) for c in scored for i, t in enumerate(c.tuning)
                      if objective.acceptable(t)]
            front = [points[i] for i in non_dominated(points)]
            self.ideal = tuple(min(p[k] for p in points) for k in range(2))
            nadir = tuple(max(p[k] for p in front) for k in range(2))
            self.span = tuple((nadir[k] - self.ideal[k]) or 1.0 for k in range(2))
            self.best_hypervolume = hypervolume_2d([self._normalise(p) for p in front], REFERENCE_POINT)

    def _true_point(self, candidate_id: str, trial: int) -> tuple[float, float]:
        record = self.table.candidate(candidate_id)
        return record.final_val_loss, math.log(record.tuning[trial].latency_s)

    def _normalise(self, point: tuple[float, float]) -> tuple[float, float]:
        return tuple((point[k] - self.ideal[k]) / self.span[k] for k in range(2))

    def _trial(self, pick: Pick) -> TuningPoint:
        record = self.table.candidate(pick.candidate_id)
        if not 0 <= pick.trial < len(record.tuning):
            raise UserError(f"pick {pick}: trial index out of range 0..{len(record.tuning) - 1}")
        return record.tuning[pick.trial]

    def score(self, recommendation: Pick | Sequence[Pick] | None) -> Score:
        if self.objective.mode == "constraint":
            return self._score_constraint(recommendation)
        return self._score_pareto(recommendation or [])

    def _score_constraint(self, pick: Pick | None) -> Score:
        if pick is None:
            return Score(regret=math.inf)
        if not self.objective.feasible(self._trial(pick)):
            return Score(regret=math.inf, infeasible=True)
        loss = self.table.candidate(pick.candidate_id).final_val_loss
        # a pick that diverged by the end (the checkpoint rule may choose it on an earlier loss) ranks nowhere
        rank = bisect.bisect_left(self.feasible_losses, loss) if math.isfinite(loss) else None
        gap = loss - self.best_loss
        return Score(regret=gap / abs(self.best_loss), gap=gap / self.loss_range, rank=rank)

    def _score_pareto(self, picks: Sequence[Pick]) -> Score:
        usable = [p for p in picks if self.objective.acceptable(self._trial(p))]
        if not usable:
            return Score(regret=math.inf, infeasible=bool(picks))
        points = [self._normalise(self._true_point(p.candidate_id, p.trial)) for p in usable]
        gap = max(0.0, self.best_hypervolume - hypervolume_2d(points, REFERENCE_POINT)) / self.best_hypervolume
        return Score(regret=gap, gap=gap)


def cost_to_regret(trace: Sequence[tuple[float, float]], threshold: float) -> float:
    """First time after which regret stays <= threshold; inf if the final regret is above it.

    `trace` is (virtual seconds, regret) in time order; each value holds until the next entry.
    """
    reached = math.inf
    for seconds, regret in trace:
        if regret <= threshold:
            if math.isinf(reached):
                reached = seconds
        else:
            reached = math.inf
    return reached


ANYTIME_DECADES = 3  # the anytime area spans brute/10^3 .. brute


def anytime_area(trace: Sequence[tuple[float, float]], brute_s: float) -> float:
    """Mean of min(1, gap) (inf and no pick: 1) over log cost from brute/1000 to brute: 0 is the true
    best from the start, 1 nothing useful within the budget. `trace` is (virtual seconds, gap) in time
    order, each value holding until the next entry (and 1 before the first)."""
    low, high = math.log(brute_s) - ANYTIME_DECADES * math.log(10), math.log(brute_s)
    area, at, value = 0.0, low, 1.0
    for seconds, gap in trace:
        x = math.log(seconds) if seconds > 0 else -math.inf
        if x > at:
            end = min(x, high)
            area += value * (end - at)
            at = end
        value = min(1.0, gap) if math.isfinite(gap) else 1.0
        if at >= high:
            break
    area += value * max(0.0, high - at)
    return area / (high - low)
