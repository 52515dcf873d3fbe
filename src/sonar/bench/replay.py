"""Replay on a virtual clock: table-backed Trainer and Tuner, and a session that charges recorded costs.

`TableTrainer` and `TableTuner` implement sonar.interfaces.Trainer / Tuner by reading the table, so
any engine that drives those protocols replays unchanged; the cost of a call is the growth of the
cumulative `seconds` it returns. `ReplaySession` is the harness the baselines and peers run in: one
worker, jobs back to back, the clock advanced by each job's recorded cost (only the part not paid
before: resuming a candidate from its last checkpoint costs the difference). After every job it
scores the current recommendation, which yields the regret-vs-cost trace.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sonar.bench.regret import Objective, Pick, Score, Scorer, non_dominated
from sonar.bench.table import BenchTable
from sonar.errors import UserError
from sonar.interfaces import Candidate, CurvePoint, TuningPoint


class TableTrainer:
    """A Trainer whose training is a lookup: the curve up to `until_step` (a table checkpoint)."""

    def __init__(self, table: BenchTable):
        self.table = table

    def run(self, candidate: Candidate, until_step: int) -> list[CurvePoint]:
        record = self.table.candidate(candidate.id)
        checkpoints = self.table.header.checkpoints
        if until_step not in checkpoints:
            # Reports off the recorded steps would compare different steps across candidates.
            raise UserError(f"until_step={until_step}: the table records val loss only at steps {list(checkpoints)}")
        return [p for p in record.curve if p.step <= until_step]


class TableTuner:
    """A Tuner whose trials are a lookup: the recorded tuning trace through `until_trial` trials."""

    def __init__(self, table: BenchTable):
        self.table = table

    def run(self, candidate: Candidate, until_trial: int) -> list[TuningPoint]:
        record = self.table.candidate(candidate.id)
        if until_trial < 0:
            raise UserError(f"until_trial={until_trial}: must be >= 0")
        return list(record.tuning[:until_trial])


class BudgetExhausted(Exception):
    """The session's virtual budget is spent; the method should stop."""


@dataclass
class Observed:
    """What a method has paid to see of one candidate."""

    curve: list[CurvePoint] = field(default_factory=list)
    trials: dict[int, TuningPoint] = field(default_factory=dict)  # trace index -> measured trial
    train_paid: float = 0.0  # cumulative training seconds already charged


@dataclass(kw_only=True, frozen=True)
class TracePoint:
    seconds: float
    regret: float
    infeasible: bool


class ReplaySession:
    """One method, one seed, one worker, on the virtual clock."""

    def __init__(self, table: BenchTable, objective: Objective, *, budget_s: float | None = None,
                 scorer: Scorer | None = None):
        self.table, self.objective = table, objective
        self.scorer = scorer or Scorer(table, objective)
        self.budget_s = table.brute_force_seconds if budget_s is None else budget_s
        self.clock = 0.0
        self.observed: dict[str, Observed] = {}
        self.trace: list[TracePoint] = []
        self._explicit: Pick | list[Pick] | None = None
        self._uses_explicit = False
        self._trainer, self._tuner = TableTrainer(table), TableTuner(table)

    # ------------------------------------------------------------ jobs
    def _candidate(self, candidate_id: str) -> Candidate:
        record = self.table.candidate(candidate_id)
        return Candidate(id=record.id, model=record.model, workdir=_NO_WORKDIR)

    def _charge(self, seconds: float) -> None:
        if self.clock >= self.budget_s:
            raise BudgetExhausted
        self.clock += max(0.0, seconds)

    def train(self, candidate_id: str, until_step: int) -> list[CurvePoint]:
        """Extend training to `until_step`; costs only the steps not trained before."""
        seen = self.observed.setdefault(candidate_id, Observed())
        curve = self._trainer.run(self._candidate(candidate_id), until_step)
        if curve and curve[-1].seconds > seen.train_paid:
            self._charge(curve[-1].seconds - seen.train_paid)
            seen.train_paid = curve[-1].seconds
        if len(curve) > len(seen.curve):
            seen.curve = curve
        self._record()
        return curve

    def tune(self, candidate_id: str, until_trial: int) -> list[TuningPoint]:
        """Extend tuning along the recorded trace (the real tuner's own order)."""
        seen = self.observed.setdefault(candidate_id, Observed())
        trace = self._tuner.run(self._candidate(candidate_id), until_trial)
        unpaid = [i for i in range(len(trace)) if i not in seen.trials]
        if unpaid:
            record = self.table.candidate(candidate_id)
            self._charge(sum(record.trial_cost(i) for i in unpaid))
        for i, point in enumerate(trace):
            seen.trials[i] = point
        self._record()
        return trace

    def restart(self, candidate_id: str) -> None:
        """A new run of this candidate without a checkpoint (a peer's fresh trial): it trains from step 0
        and pays again; what was observed before stays known."""
        self.observed.setdefault(candidate_id, Observed()).train_paid = 0.0

    def measure(self, candidate_id: str, trial: int, *, again: bool = False) -> TuningPoint:
        """Measure one recorded system config of a candidate, charged its own recorded cost (again:
        charged even if measured before, as a library that keeps no record of it would pay)."""
        seen = self.observed.setdefault(candidate_id, Observed())
        record = self.table.candidate(candidate_id)
        if not 0 <= trial < len(record.tuning):
            raise UserError(f"trial {trial}: candidate {candidate_id} has trials 0..{len(record.tuning) - 1}")
        if again or trial not in seen.trials:
            self._charge(record.trial_cost(trial))
            seen.trials[trial] = record.tuning[trial]
        self._record()
        return seen.trials[trial]

    # ------------------------------------------------------------ recommendations
    def recommend(self, recommendation: Pick | Sequence[Pick] | None) -> None:
        """Set the method's own recommendation; from now on it replaces the default rule."""
        self._uses_explicit = True
        self._explicit = list(recommendation) if isinstance(recommendation, (list, tuple)) else recommendation
        self._record()

    def recommend_at(self, seconds: float, recommendation: Pick | Sequence[Pick] | None) -> None:
        """A method on its own clock (the engine's simulated executor) recommends at virtual time `seconds`."""
        self.clock = max(self.clock, seconds)
        self.recommend(recommendation)

    def current_recommendation(self) -> Pick | list[Pick] | None:
        if self._uses_explicit:
            return self._explicit
        return default_recommendation(self.observed, self.objective)

    def _record(self) -> None:
        score: Score = self.scorer.score(self.current_recommendation())
        point = TracePoint(seconds=self.clock, regret=score.regret, infeasible=score.infeasible)
        if self.trace and self.trace[-1].seconds == point.seconds:
            self.trace[-1] = point  # several decisions at one instant: the last one holds
        else:
            self.trace.append(point)

    def finish(self) -> list[TracePoint]:
        self._record()
        return self.trace


def default_recommendation(observed: dict[str, Observed], objective: Objective) -> Pick | list[Pick] | None:
    """What an engine would report from what it saw: each candidate's latest observed val loss, with
    its measured configs (constraint: the lowest loss that has a feasible config, at its fastest one;
    Pareto: the observed non-dominated pairs)."""
    pairs: list[tuple[float, float, Pick]] = []
    for cid in sorted(observed):
        seen = observed[cid]
        if not seen.curve:
            continue
        loss = seen.curve[-1].val_loss
        for index, trial in sorted(seen.trials.items()):
            if objective.feasible(trial) and math.isfinite(loss):
                pairs.append((loss, trial.latency_s, Pick(candidate_id=cid, trial=index)))
    if not pairs:
        return None if objective.mode == "constraint" else []
    if objective.mode == "constraint":
        return min(pairs, key=lambda p: (p[0], p[1], p[2].candidate_id, p[2].trial))[2]
    keep = non_dominated([(loss, math.log(latency)) for loss, latency, _ in pairs])
    return [pairs[i][2] for i in keep]


_NO_WORKDIR = Path("/nonexistent/replayed")  # replayed candidates write nothing
