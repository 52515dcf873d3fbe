"""Replay on a virtual clock: table-backed Trainer and Tuner, and a session that charges recorded costs.

`TableTrainer` and `TableTuner` implement sonar.interfaces.Trainer / Tuner by reading the table, so
any engine that drives those protocols replays unchanged; the cost of a call is the growth of the
cumulative `seconds` it returns. `ReplaySession` is the harness every method runs in: one worker,
jobs back to back, the clock advanced by each job's recorded cost (only the part not paid before:
resuming a run from its last checkpoint costs the difference). After every job it scores the
benchmark's recommendation (sonar.bench.recommend) for what the method observed, which yields the
regret-vs-cost trace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sonar.bench.recommend import DEFAULT_RULE, Observed, check_rule, recommend
from sonar.bench.regret import Objective, Pick, Score, Scorer
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


@dataclass(kw_only=True, frozen=True)
class TracePoint:
    seconds: float
    regret: float
    infeasible: bool
    gap: float = math.inf  # regret normalised to the table's range (see regret.Score)
    rank: int | None = None  # the pick's rank among the feasible candidates (0: the best)


class ReplaySession:
    """One method, one seed, one worker, on the virtual clock.

    A method only trains, tunes and measures; after each of those the session scores the
    benchmark's recommendation (sonar.bench.recommend, under the session's `rule`) for what the
    method has observed so far. Training is charged per *run*: by default a candidate has one run
    that resumes from its last checkpoint (as the engine does); a peer names each of its trials as a
    run of its own, so a new trial trains from step 0 and pays again while a resumed one pays only
    the steps it has not trained before. `also_rules` scores the same run under more rules at once
    (`traces`): a method's choices never depend on the rule, so one run serves them all.
    """

    def __init__(self, table: BenchTable, objective: Objective, *, budget_s: float | None = None,
                 scorer: Scorer | None = None, rule: str = DEFAULT_RULE, also_rules: tuple[str, ...] = ()):
        self.table, self.objective, self.rule = table, objective, check_rule(rule)
        self.traces: dict[str, list[TracePoint]] = {r: [] for r in (rule, *map(check_rule, also_rules))}
        self.scorer = scorer or Scorer(table, objective)
        self.budget_s = table.brute_force_seconds if budget_s is None else budget_s
        self.clock = 0.0
        self.observed: dict[str, Observed] = {}
        self._train_paid: dict[str, float] = {}  # run key -> cumulative training seconds already charged
        self._trainer, self._tuner = TableTrainer(table), TableTuner(table)

    # ------------------------------------------------------------ jobs
    def _candidate(self, candidate_id: str) -> Candidate:
        record = self.table.candidate(candidate_id)
        return Candidate(id=record.id, model=record.model, workdir=_NO_WORKDIR)

    def _charge(self, seconds: float) -> None:
        if self.clock >= self.budget_s:
            raise BudgetExhausted
        self.clock += max(0.0, seconds)

    def train(self, candidate_id: str, until_step: int, *, run: str | None = None) -> list[CurvePoint]:
        """Extend training of `run` (default: the candidate's own run) to `until_step`; costs only the
        steps that run has not trained before."""
        seen = self.observed.setdefault(candidate_id, Observed())
        curve = self._trainer.run(self._candidate(candidate_id), until_step)
        key = candidate_id if run is None else f"{candidate_id} run {run}"
        paid = self._train_paid.get(key, 0.0)
        if curve and curve[-1].seconds > paid:
            self._charge(curve[-1].seconds - paid)
            self._train_paid[key] = curve[-1].seconds
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
        """A new run of this candidate's own run without a checkpoint: it trains from step 0 and pays
        again; what was observed before stays known."""
        self._train_paid.pop(candidate_id, None)

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

    def observe_at(self, seconds: float, observed: Mapping[str, Observed]) -> None:
        """A method on its own clock (the engine's simulated executor) reports, at virtual time
        `seconds`, everything it has observed: it replaces the session's view, and the benchmark's
        rule picks from it as from any other method's."""
        self.clock = max(self.clock, seconds)
        self.observed = {cid: Observed(curve=list(o.curve), trials=dict(o.trials)) for cid, o in observed.items()}
        self._record()

    # ------------------------------------------------------------ scoring
    @property
    def trace(self) -> list[TracePoint]:
        return self.traces[self.rule]

    def current_recommendation(self, rule: str | None = None) -> Pick | list[Pick] | None:
        return recommend(self.observed, self.objective, rule=rule or self.rule, last_step=self.table.header.max_steps)

    def _record(self) -> None:
        for rule, trace in self.traces.items():
            score: Score = self.scorer.score(self.current_recommendation(rule))
            point = TracePoint(seconds=self.clock, regret=score.regret, infeasible=score.infeasible, gap=score.gap,
                               rank=score.rank)
            if trace and trace[-1].seconds == point.seconds:
                trace[-1] = point  # several decisions at one instant: the last one holds
            else:
                trace.append(point)

    def finish(self) -> list[TracePoint]:
        self._record()
        return self.trace


_NO_WORKDIR = Path("/nonexistent/replayed")  # replayed candidates write nothing
