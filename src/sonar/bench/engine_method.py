"""The search engine's own schedulers, replayed on a table: the real engine loop on a virtual clock.

Each replay is a complete `sonar.search` run: a spec whose candidate pool is the table's
architectures (drawn in a seeded order), the scheduler under test, the simulated executor with one
worker and no per-job overhead (the currency of every other method), and a Backend whose Trainer
and Tuner read the table. After every engine turn, what the engine has observed (its SearchState's
curves and tuning traces) replaces the session's view at the executor's virtual time, and the
benchmark's rule (sonar.bench.recommend) picks from it as for every other method: the engine's own
recommendation (`sonar.search.results`) plays no part. Nothing about the scheduler is re-implemented.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

from sonar.bench.recommend import Observed
from sonar.bench.regret import Objective
from sonar.bench.replay import ReplaySession, TableTrainer, TableTuner
from sonar.bench.table import BenchTable
from sonar.errors import UserError
from sonar.interfaces import Candidate, CurvePoint, TuningPoint
from sonar.search.backends import Backend
from sonar.search.engine import run_search, start_search
from sonar.search.executors.simulated import SimulatedExecutor
from sonar.search.records import is_diverged
from sonar.search.runner import execute
from sonar.search.schedulers import make_scheduler
from sonar.search.spec import parse_spec
from sonar.search.state import SearchState

# replay method name -> the engine's scheduler name (brute and random also exist as table-level methods)
ENGINE_SCHEDULERS = {"sonar": "sonar", "sequential": "sequential", "asha_arch_only": "asha",
                     "brute_force_engine": "brute", "random_engine": "random"}
DEFAULT_ETA = 4  # 8, 32, 128, 512 on doubling checkpoints: every rung ends where the table recorded a loss


def replay_spec(table: BenchTable, objective: Objective, *, scheduler: str, seed: int, eta: int = DEFAULT_ETA,
                budget_s: float = math.inf, min_trials: int | None = None, rules: dict | None = None) -> dict:
    """The search spec of one replay: the table's architectures as the pool, its budgets as the maxima."""
    checkpoints = table.header.checkpoints
    # The longest trace: a tuner that stopped early (plateau, compile phase done) returns its whole
    # trace when asked for more, while the shortest would cut every longer trace (and the compiled
    # trials at its end) off before the engine could see them.
    max_trials = max(len(c.tuning) for c in table.candidates)
    spec_objective = ({"kind": "constraint", "latency_s": objective.latency_limit_s}
                      if objective.mode == "constraint" else {"kind": "pareto"})
    # both budgets span the same rungs: the trials ladder reaches max_trials where the steps ladder ends
    rungs = 1 + math.ceil(math.log(checkpoints[-1] / checkpoints[0], eta) - 1e-9)
    budget = {"max_steps": checkpoints[-1], "min_steps": checkpoints[0], "max_trials": max_trials,
              "min_trials": min_trials or max(1, max_trials // eta ** (rungs - 1)), "candidates": len(table.candidates)}
    if math.isfinite(budget_s):
        budget["cost_s"] = budget_s
    # The modes the table's tuner could compile with: the scheduler expects late tuning gains from them.
    compiles = (table.header.knob_space.get("space") or {}).get("compiles") or ["eager"]
    raw = {"name": f"replay-{scheduler}", "arch": {"pool": [c.model.to_dict() for c in table.candidates]},
           "system": {"compiles": list(compiles)}, "objective": spec_objective, "budget": budget,
           "scheduler": scheduler, "eta": eta, "seed": seed, "executor": {"kind": "simulated", "workers": 1},
           "backend": "synthetic"}
    if rules:
        raw["rules"] = dict(rules)
    ladder = make_scheduler(parse_spec(raw)).ladder
    off = sorted({steps for steps, _ in ladder if steps and steps not in checkpoints})
    if off:
        where = f"{table.source}: " if table.source else ""
        shown = ", ".join(map(str, off[:4])) + (", ..." if len(off) > 4 else "")
        recorded = ", ".join(map(str, checkpoints[:6])) + (", ..." if len(checkpoints) > 6 else "")
        raise UserError(f"{where}eta={eta}: rungs end at steps [{shown}], where the table records no loss (checkpoints "
                        f"[{recorded}]); the engine's schedulers need a loss recorded at every rung, i.e. "
                        f"checkpoints at the first one times {eta}^k (the doubling checkpoints `sonar bench build` "
                        "records land on them)")
    return raw


class _ByModel:
    """Maps the engine's candidates (ids of its own) to the table's records by architecture."""

    def __init__(self, table: BenchTable):
        self.table = table
        self.ids = {c.model: c.id for c in table.candidates}
        if len(self.ids) != len(table.candidates):
            raise UserError("the table holds the same architecture twice: the engine could not tell them apart")

    def table_candidate(self, candidate: Candidate) -> Candidate:
        return dataclasses.replace(candidate, id=self.ids[candidate.model])


class EngineTrainer(_ByModel):
    def __init__(self, table: BenchTable):
        super().__init__(table)
        self.inner = TableTrainer(table)

    def run(self, candidate: Candidate, until_step: int) -> list[CurvePoint]:
        return self.inner.run(self.table_candidate(candidate), until_step)


class EngineTuner(_ByModel):
    """The recorded trace, with each trial's running best recomputed under the replay's own quality bound."""

    def __init__(self, table: BenchTable, objective: Objective):
        super().__init__(table)
        self.inner, self.objective = TableTuner(table), objective

    def run(self, candidate: Candidate, until_trial: int) -> list[TuningPoint]:
        best, points = math.inf, []
        for point in self.inner.run(self.table_candidate(candidate), until_trial):
            if self.objective.acceptable(point):
                best = min(best, point.latency_s)
            points.append(dataclasses.replace(point, best_latency_s=best))
        return points


def engine_observations(state: SearchState, by_model: _ByModel) -> dict[str, Observed]:
    """What the engine has observed, by table id: each candidate's curve, and its tuning trials by
    trace index (the engine's tuner walks the table's trace, so its i-th trial is the trace's i-th)."""
    observed = {}
    for c in state.candidates.values():
        curve = c.curve  # the state's own list: ReplaySession.observe_at copies what it keeps
        diverged = [state.jobs[j].job.until for jobs in c.jobs.values() for j in jobs
                    if state.jobs[j].status == "failed" and state.jobs[j].job.kind == "train"
                    and is_diverged(state.jobs[j].failure)]
        if diverged:
            # A failed train job drops its points from the state, but the method paid for them and saw the
            # loss diverge: without them the rule compared the candidate at an earlier step and kept picking it.
            record = by_model.table.candidate(by_model.ids[c.model])
            curve = [p for p in record.curve if p.step <= max(diverged)]
        if curve or c.tuning:
            observed[by_model.ids[c.model]] = Observed(curve=curve, trials=dict(enumerate(c.tuning)))
    return observed


class EngineMethod:
    """One sonar.search scheduler as a replay method."""

    modes = ("constraint", "pareto")

    def __init__(self, name: str, scheduler: str, *, eta: int = DEFAULT_ETA, min_trials: int | None = None,
                 rules: dict | None = None):
        self.name, self.scheduler, self.eta, self.min_trials = name, scheduler, eta, min_trials
        self.rules = dict(rules or {})  # scheduler rules switched off or on (search/schedulers/policy.py)

    def check(self, table: BenchTable, objective: Objective) -> None:
        """Refuse, before any replay, a table this scheduler cannot replay (its rungs off the checkpoints)."""
        replay_spec(table, objective, scheduler=self.scheduler, seed=0, eta=self.eta, min_trials=self.min_trials,
                    rules=self.rules)

    def run(self, session: ReplaySession, seed: int) -> None:
        table, objective = session.table, session.objective
        raw = replay_spec(table, objective, scheduler=self.scheduler, seed=seed, eta=self.eta,
                          budget_s=session.budget_s, min_trials=self.min_trials, rules=self.rules)
        with tempfile.TemporaryDirectory(prefix="sonar-replay-") as tmp:
            replay_search(table, objective, raw, Path(tmp) / "run", observe=session.observe_at)


def replay_search(table: BenchTable, objective: Objective, raw: dict, run_dir: Path,
                  observe: Callable[[float, dict[str, Observed]], None] | None = None) -> SearchState:
    """The engine's search of spec `raw` (replay_spec) on the table, one worker on the virtual clock, in `run_dir`;
    `observe(virtual seconds, what the engine has observed)` after every engine turn. Returns its final state."""
    trainer, tuner = EngineTrainer(table), EngineTuner(table, objective)
    backend = Backend(trainer=trainer, tuner=tuner)
    executor = SimulatedExecutor(1, run=lambda payload: execute(payload, backend), overhead_s=0.0)

    def progress(state: SearchState) -> None:
        observe(executor.now(), engine_observations(state, trainer))

    start_search(raw, run_dir).close()
    return run_search(run_dir, executor, on_progress=None if observe is None else progress)


def engine_methods() -> list[EngineMethod]:
    return [EngineMethod(name, scheduler) for name, scheduler in ENGINE_SCHEDULERS.items()]
