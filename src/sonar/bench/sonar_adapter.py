"""Drives a sonar.search-style scheduler (`next_jobs(state)`, `decide(state)`) on a replay session.

The adapter owns a small recorded state and hands it to the scheduler each round; the scheduler
answers with jobs and decisions, read by attribute so the engine's own types pass through:

    job:      .candidate_id (str), .kind ("train" | "tune"), .until (step or trial count)
    decision: .candidate_id (str), .action ("stop" | "continue")
    optional: scheduler.recommend(state) -> Pick | list[Pick] | None  (else the session's default rule)

Integration point: sonar.search exposes REPLAY_SCHEDULERS, a dict name -> factory(table, objective,
seed) returning such a scheduler. Until it does, `search_methods()` returns none and says why.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sonar.bench.regret import Objective
from sonar.bench.replay import ReplaySession
from sonar.bench.table import BenchTable
from sonar.errors import UserError
from sonar.interfaces import CurvePoint, TuningPoint
from sonar.model.config import ModelConfig

SEARCH_REGISTRY = ("sonar.search", "REPLAY_SCHEDULERS")
MAX_ROUNDS = 100_000  # a scheduler that keeps proposing already-paid jobs must still end


@dataclass(kw_only=True, frozen=True)
class ReplayJob:
    candidate_id: str
    kind: str
    until: int


@dataclass(kw_only=True, frozen=True)
class ReplayDecision:
    candidate_id: str
    action: str


@dataclass(kw_only=True)
class ReplayState:
    """Everything recorded so far, the only input a scheduler decides from."""

    candidates: dict[str, ModelConfig]
    checkpoints: tuple[int, ...]
    max_trials: dict[str, int]
    objective: Objective
    clock: float = 0.0
    curves: dict[str, list[CurvePoint]] = field(default_factory=dict)
    tuning: dict[str, list[TuningPoint]] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)


SchedulerFactory = Callable[[BenchTable, Objective, int], object]


class SchedulerMethod:
    """A replay method wrapping one scheduler factory."""

    modes = ("constraint", "pareto")

    def __init__(self, name: str, factory: SchedulerFactory):
        self.name, self.factory = name, factory

    def run(self, session: ReplaySession, seed: int) -> None:
        table = session.table
        scheduler = self.factory(table, session.objective, seed)
        state = ReplayState(candidates={c.id: c.model for c in table.candidates},
                            checkpoints=table.header.checkpoints,
                            max_trials={c.id: len(c.tuning) for c in table.candidates}, objective=session.objective)
        recommend = getattr(scheduler, "recommend", None)
        for _ in range(MAX_ROUNDS):
            jobs = list(scheduler.next_jobs(state))
            if not jobs:
                return
            for job in jobs:
                self._run_job(session, state, job)
            state.clock = session.clock
            for decision in scheduler.decide(state):
                if _field(decision, "action") == "stop":
                    state.stopped.add(_field(decision, "candidate_id"))
            if callable(recommend):
                session.recommend(recommend(state))

    @staticmethod
    def _run_job(session: ReplaySession, state: ReplayState, job: object) -> None:
        candidate_id, kind, until = (_field(job, name) for name in ("candidate_id", "kind", "until"))
        if candidate_id in state.stopped:
            raise UserError(f"scheduler proposed {kind} for candidate {candidate_id}, which it had stopped")
        if kind == "train":
            state.curves[candidate_id] = session.train(candidate_id, until)
        elif kind == "tune":
            state.tuning[candidate_id] = session.tune(candidate_id, until)
        else:
            raise UserError(f"job kind {kind!r}: expected 'train' or 'tune'")


def _field(record: object, name: str):
    try:
        return getattr(record, name)
    except AttributeError:
        raise UserError(f"{type(record).__name__} has no {name!r}: the replay adapter reads jobs as "
                        "(candidate_id, kind, until) and decisions as (candidate_id, action)") from None


def search_methods() -> tuple[list[SchedulerMethod], str | None]:
    """The sonar.search schedulers, or none and the reason."""
    module_name, attribute = SEARCH_REGISTRY
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return [], f"{module_name} is not installed: its schedulers are left out"
    registry = getattr(module, attribute, None)
    if not isinstance(registry, dict):
        return [], f"{module_name}.{attribute} (name -> factory(table, objective, seed)) is missing"
    return [SchedulerMethod(name, factory) for name, factory in sorted(registry.items())], None
