"""The search loop: decide, submit, wait, record; every step an appended event.

The loop holds nothing the events do not: after a crash, `resume` folds them again, marks the jobs
that were running as interrupted and submits them again (the Trainer/Tuner resume from their own
checkpoints), and goes on. Completed jobs are never submitted again.

One engine drives a run: it takes the run's EngineLock before it reads anything and holds it to the
end. Only the engine writes the database (workers, Ray's on other hosts included, hand their outcomes
back to it), so the lock is the whole liveness story: no heartbeat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from sonar.errors import UserError
from sonar.search.records import Decision, Job, Outcome
from sonar.search.run_lock import EngineLock
from sonar.search.runner import JobPayload
from sonar.search.schedulers import make_scheduler
from sonar.search.spec_record import ACCEPTED, check_stored_spec
from sonar.search.state import SearchState, sampled_model
from sonar.search.storage import DB_NAME, Storage

WORKER_DIED = "worker died"


def start_search(spec_raw: dict, run_dir: str | Path) -> Storage:
    """Create the run directory and record the spec (already validated by the caller)."""
    return Storage.create(run_dir, spec_raw)


def run_search(run_dir: str | Path, executor, *, backend: str | None = None,
               on_progress: Callable[[SearchState], None] | None = None,
               allow_spec_change: bool = False) -> SearchState:
    """Drive a created run to its end (or resume one). A second engine on the same run fails at once
    with UserError; so does a stored spec edited since the run accepted it, unless allowed."""
    if not (Path(run_dir) / DB_NAME).is_file():
        raise UserError(f"{run_dir}: not a search directory (no {DB_NAME})")
    with EngineLock.acquire(run_dir):  # before reading: what we read is then ours until we finish
        storage = Storage(run_dir, writable=True)
        try:
            return _loop(storage, executor, backend, on_progress, allow_spec_change)
        finally:
            storage.close()


def _loop(storage: Storage, executor, backend, on_progress, allow_spec_change: bool) -> SearchState:
    events = storage.events()
    state = storage.state(events)
    spec_note = check_stored_spec(events, where=str(storage.path), allow_change=allow_spec_change)
    if state.finished:
        return state
    backend = backend or state.spec.backend
    scheduler = make_scheduler(state.spec)
    record = _Recorder(storage, state, executor)
    record("run_started", {"backend": backend})
    if spec_note is not None:  # after run_started: replay reads a block cut by a restart up to it
        record(ACCEPTED, spec_note)
    pending = {}
    # Jobs that died with a worker, to run again one at a time: a dying worker takes its neighbours'
    # jobs down with it (a broken pool), and were they all rerun together the culprit's second death
    # would fail the innocent ones for good.
    suspects: list[str] = []
    for job_record in state.running():  # the engine died while these ran
        record("job_interrupted", {"job_id": job_record.job.id})
    for job_record in state.interrupted():
        pending[job_record.job.id] = _submit(executor, record, state, storage, job_record.job, backend)
    while True:
        decisions = [_with_model(state, d) for d in scheduler.decide(state)]
        for decision in decisions:
            record("decision", decision.to_dict())
        if suspects:
            if not pending:
                job_id = suspects.pop(0)
                pending[job_id] = _submit(executor, record, state, storage, state.jobs[job_id].job, backend)
        else:
            for job in scheduler.next_jobs(state):
                pending[job.id] = _submit(executor, record, state, storage, job, backend)
        if on_progress:
            on_progress(state)
        if not pending:
            if decisions:
                continue
            break
        # One result per turn, the earliest submitted among those done, and the scheduler sees each:
        # then how an executor batches completions cannot change a decision.
        done = executor.wait(list(pending.values()))
        job_id = next(job_id for job_id, fut in pending.items() if fut in done)
        outcome = _outcome(job_id, pending.pop(job_id))
        if outcome.failure and outcome.failure.startswith(WORKER_DIED) and state.jobs[job_id].attempts < 2:
            record("job_interrupted", {"job_id": job_id, "reason": outcome.failure})
            suspects.append(job_id)
        elif outcome.ok:
            record("job_done", {"job_id": job_id, "points": outcome.points, "cost_s": outcome.cost_s,
                                **_placed(outcome)})
        else:
            record("job_failed", {"job_id": job_id, "failure": outcome.failure, "cost_s": outcome.cost_s,
                                  **_placed(outcome)})
    record("run_finished", {})
    if on_progress:
        on_progress(state)
    return state


class _Recorder:
    """Append an event and fold it into the live state: the same fold a restart performs."""

    def __init__(self, storage: Storage, state: SearchState, executor) -> None:
        self.storage, self.state, self.executor = storage, state, executor

    def __call__(self, kind: str, payload: dict) -> None:
        stamp = self.storage.append(kind, payload, at=self.executor.now())
        self.state.apply(kind, payload, stamp)


def _with_model(state: SearchState, decision: Decision) -> Decision:
    """A start records the architecture drawn for it: the only time the sampler is asked."""
    if decision.action != "start" or decision.model is not None:
        return decision
    return dataclasses.replace(decision, model=sampled_model(state.spec, decision.candidate).to_dict())


def _submit(executor, record: _Recorder, state: SearchState, storage: Storage, job: Job, backend: str):
    record("job_submitted", job.to_dict())
    cand = state.candidates[job.candidate]
    payload = JobPayload(job=job, model=cand.model.to_dict(), seed=cand.seed,
                         workdir=str(storage.candidate_dir(cand.id).resolve()), spec_raw=state.spec.raw,
                         backend=backend)
    return executor.submit(payload)


def _placed(outcome: Outcome) -> dict:
    """Where the job ran, for its done/failed event; left out where no worker said (older runs lack it too)."""
    return {} if outcome.placement is None else {"placement": outcome.placement}


def _outcome(job_id: str, future) -> Outcome:
    try:
        outcome = future.result()
    except Exception as err:  # noqa: BLE001  the worker itself died (pool crash, Ray worker lost)
        return Outcome(job_id=job_id, failure=f"{WORKER_DIED}: {type(err).__name__}: {err}")
    return dataclasses.replace(outcome, job_id=job_id) if outcome.job_id != job_id else outcome

