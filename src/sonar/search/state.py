"""The search state, rebuilt by folding the recorded events in order (nothing else is trusted).

The engine applies each event to its live state as it appends it to storage, and a resumed or
second process folds the same events, so both see the same state and the scheduler, a pure
function of it, decides the same.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field

from sonar.field_types import check_types
from sonar.interfaces import CurvePoint, TuningPoint
from sonar.model.config import ModelConfig
from sonar.search.records import Decision, Job
from sonar.search.space import sample_architectures
from sonar.search.spec import SearchSpec, parse_spec

ACTIVE, STOPPED, FINISHED, FAILED = "active", "stopped", "finished", "failed"


@dataclass
class JobRecord:
    job: Job
    status: str = "submitted"  # submitted | done | failed
    cost_s: float = 0.0
    failure: str | None = None
    attempts: int = 1
    done_at: float | None = None
    placement: dict | None = None  # where it ran (placement.py); None in runs recorded before it was


@dataclass
class CandidateState:
    id: str
    index: int
    model: ModelConfig
    seed: int
    curve: list[CurvePoint] = field(default_factory=list)
    tuning: list[TuningPoint] = field(default_factory=list)
    rung: int = -1  # the highest rung started (by a start or promote decision)
    status: str = ACTIVE
    reason: str = ""
    jobs: dict[int, list[str]] = field(default_factory=dict)  # rung -> job ids
    # The tuner returned fewer trials than a job asked for: it has stopped (plateau, space exhausted,
    # compile phase done), so the best latency is final rather than a point on a curve still falling.
    tuning_complete: bool = False
    # Every target's tuning by target name. `tuning` and `tuning_complete` above are the primary (first)
    # target's, so whatever reads one tuning reads the primary target's; `on(name)` gives another's.
    primary: str = ""
    tunings: dict[str, list[TuningPoint]] = field(default_factory=dict)
    completes: dict[str, bool] = field(default_factory=dict)

    def steps_done(self) -> int:
        return self.curve[-1].step if self.curve else 0

    def trials_done(self) -> int:
        return len(self.tuning)

    def best_latency(self) -> float:
        finite = [p.best_latency_s for p in self.tuning if math.isfinite(p.best_latency_s)]
        return min(finite) if finite else math.inf

    def val_loss(self) -> float:
        return self.curve[-1].val_loss if self.curve else math.inf

    def on(self, target: str) -> CandidateState:
        """The candidate as one target sees it: that target's tuning in `tuning` and `tuning_complete`,
        everything else shared with this one (a read-only view for the scheduler and the results). It
        reads `tunings`, never `tuning`, so a view of a view (a worst case's) still finds each target's."""
        return dataclasses.replace(self, tuning=self.tunings.get(target, []),
                                   tuning_complete=self.completes.get(target, False))


@dataclass
class SearchState:
    spec: SearchSpec
    candidates: dict[str, CandidateState] = field(default_factory=dict)
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    spent_s: float = 0.0
    spend_log: list[tuple[float, float]] = field(default_factory=list)  # (event time, cumulative cost)
    finished: bool = False

    # --- folding events -------------------------------------------------------------------------------
    def apply(self, kind: str, payload: dict, time: float = 0.0) -> None:
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            raise ValueError(f"unknown event kind {kind!r}")
        handler(payload, time)

    def _on_run_started(self, payload: dict, time: float) -> None:
        pass

    def _on_run_finished(self, payload: dict, time: float) -> None:
        self.finished = True

    def _on_spec_accepted(self, payload: dict, time: float) -> None:
        pass  # the hash a resume checks the stored spec against (spec_record.py)

    def _create(self, candidate_id: str, recorded: dict | None) -> None:
        """The architecture is the one recorded with the start; a run from before starts recorded it
        falls back to the sampler (candidate i is the i-th architecture drawn for the spec's seed)."""
        index = candidate_index(candidate_id)
        model = ModelConfig.from_dict(recorded) if recorded is not None else sampled_model(self.spec, candidate_id)
        self.candidates[candidate_id] = CandidateState(
            id=candidate_id, index=index, model=model, seed=self.spec.seed * 1000 + index,
            primary=self.spec.targets[0].name)

    def _on_decision(self, payload: dict, time: float) -> None:
        decision = _checked(Decision(**payload))
        self.decisions.append(decision)
        if decision.action == "start":
            self._create(decision.candidate, decision.model)
        cand = self.candidates[decision.candidate]
        if decision.action in ("start", "promote"):
            cand.rung = decision.rung
        elif decision.action == "stop":
            cand.status, cand.reason = STOPPED, decision.reason
        elif decision.action == "finish":
            cand.status, cand.reason = FINISHED, decision.reason

    def _on_job_submitted(self, payload: dict, time: float) -> None:
        job = _checked(Job(**payload))
        record = self.jobs.get(job.id)
        if record is None:
            self.jobs[job.id] = JobRecord(job=job)
            self.candidates[job.candidate].jobs.setdefault(job.rung, []).append(job.id)
        else:  # an interrupted job submitted again
            record.status, record.attempts = "submitted", record.attempts + 1

    def _on_job_done(self, payload: dict, time: float) -> None:
        record = self.jobs[payload["job_id"]]
        record.status, record.cost_s, record.done_at = "done", _cost(payload["cost_s"]), time
        record.placement = payload.get("placement")
        cand = self.candidates[record.job.candidate]
        if not isinstance(payload["points"], list):
            raise TypeError(f"points={payload['points']!r}: must be a list")
        if record.job.kind == "train":
            cand.curve = [_checked(CurvePoint(**p)) for p in payload["points"]]
        else:  # a tune job recorded without a target (older runs) tuned the primary one
            target = record.job.target or cand.primary
            tuning = [_checked(TuningPoint(**p)) for p in payload["points"]]
            cand.tunings[target] = tuning
            cand.completes[target] = cand.completes.get(target, False) or len(tuning) < record.job.until
            if target == cand.primary:
                cand.tuning, cand.tuning_complete = tuning, cand.completes[target]
        self._spend(record.cost_s, time)

    def _on_job_failed(self, payload: dict, time: float) -> None:
        record = self.jobs[payload["job_id"]]
        record.status, record.failure, record.cost_s = "failed", payload["failure"], _cost(payload.get("cost_s", 0.0))
        record.done_at, record.placement = time, payload.get("placement")
        cand = self.candidates[record.job.candidate]
        cand.status, cand.reason = FAILED, f"{record.job.kind} job failed: {payload['failure']}"
        self._spend(record.cost_s, time)

    def _on_job_interrupted(self, payload: dict, time: float) -> None:
        self.jobs[payload["job_id"]].status = "interrupted"

    def _spend(self, cost: float, time: float) -> None:
        self.spent_s += cost
        self.spend_log.append((time, self.spent_s))

    # --- queries ------------------------------------------------------------------------------------
    def running(self) -> list[JobRecord]:
        return [r for r in self.jobs.values() if r.status == "submitted"]

    def interrupted(self) -> list[JobRecord]:
        return [r for r in self.jobs.values() if r.status == "interrupted"]

    def busy_candidates(self) -> set[str]:
        return {r.job.candidate for r in self.jobs.values() if r.status in ("submitted", "interrupted")}

    def rung_complete(self, cand: CandidateState) -> bool:
        """Every job of the candidate's current rung is done (a rung with no jobs is complete)."""
        return cand.rung >= 0 and all(self.jobs[j].status == "done" for j in cand.jobs.get(cand.rung, []))

    def jobs_done(self) -> int:
        return sum(r.status == "done" for r in self.jobs.values())

    def jobs_failed(self) -> int:
        return sum(r.status == "failed" for r in self.jobs.values())

    def failure_reasons(self) -> Counter:
        """Failed jobs by the first line of their failure."""
        return Counter(next(iter((r.failure or "").splitlines()), "unknown")
                       for r in self.jobs.values() if r.status == "failed")


def _checked(record):
    """A recorded Decision, Job, CurvePoint or TuningPoint whose fields hold the types they are declared with:
    a hand-edited or foreign database (a null loss, a number for a candidate id) failed far from the fold, in
    whatever first read the value (status, export, the scheduler), with a TypeError or an AttributeError."""
    check_types(record, finite=False)  # UserError, a ValueError: the fold names the event
    for name in ("config", "extra"):
        if hasattr(record, name) and not isinstance(getattr(record, name), dict):
            raise TypeError(f"{name}={getattr(record, name)!r}: must be an object")
    return record


def _cost(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise TypeError(f"cost_s={value!r}: must be a number >= 0")
    return value


def candidate_index(candidate_id: str) -> int:
    return int(candidate_id.lstrip("c"))


def sampled_model(spec: SearchSpec, candidate_id: str) -> ModelConfig:
    """What the sampler draws for a candidate now: used once, when the candidate starts, and then
    recorded with its start."""
    index = candidate_index(candidate_id)
    count = max(index + 1, spec.budget.candidates)  # one cached draw serves every candidate
    return sample_architectures(spec.arch, seed=spec.seed, count=count)[index]


class RecordError(ValueError):
    """A recorded event the fold cannot read: the database holds something sonar did not write."""


def state_from_events(events: list[tuple[str, dict, float]]) -> SearchState:
    """Fold (kind, payload, time) events; the first must be the spec."""
    if not events or events[0][0] != "spec":
        raise RecordError(f"the first event must be the spec, got {events[0][0] if events else 'no events'!r}")
    state = None
    for position, (kind, payload, time) in enumerate(events, start=1):
        try:
            if state is None:
                state = SearchState(spec=parse_spec(payload["spec"]))
            else:
                state.apply(kind, payload, time)
        except (KeyError, TypeError, ValueError) as err:  # UserError (a bad stored spec) included
            raise RecordError(f"event {position} ({kind}) cannot be read: {type(err).__name__}: {err}") from err
    return state
