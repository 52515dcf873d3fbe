"""Running one job wherever an executor puts it: build the backend (once per process), extend the
candidate's curve, and turn every failure into a recorded reason instead of an exception."""

from __future__ import annotations

import dataclasses
import math
import traceback
from dataclasses import dataclass
from pathlib import Path

from sonar.interfaces import Candidate
from sonar.model.config import ModelConfig
from sonar.search.backends import Backend, build_backend
from sonar.search.placement import current_placement
from sonar.search.records import Job, Outcome, diverged_failure
from sonar.search.spec import parse_spec

_BACKENDS: dict[tuple, Backend] = {}


@dataclass(frozen=True)
class JobPayload:
    """Everything a worker in another process needs: plain data only, so it pickles."""

    job: Job
    model: dict
    seed: int
    workdir: str
    spec_raw: dict
    backend: str


def execute(payload: JobPayload, backend: Backend | None = None) -> Outcome:
    """Run one job on the spec's backend, or on `backend` when given (a replay's table-backed one), and
    say where it ran: this runs inside the worker, which alone knows its node."""
    return dataclasses.replace(_run(payload, backend), placement=current_placement())


def _run(payload: JobPayload, backend: Backend | None) -> Outcome:
    job = payload.job
    try:
        backend = backend or _backend(payload)
        candidate = Candidate(id=job.candidate, model=ModelConfig.from_dict(payload.model),
                              workdir=Path(payload.workdir), seed=payload.seed)
        Path(payload.workdir).mkdir(parents=True, exist_ok=True)
        if job.kind == "train":
            # only a job that asks passes the keyword, so trainers without long-context support still serve
            long = {} if job.long_factor is None else {"long_factor": job.long_factor}
            points = backend.trainer.run(candidate, job.until, **long)
            before = [p.seconds for p in points if p.step <= job.start]
            cost = points[-1].seconds - (before[-1] if before else 0.0) if points else 0.0
            if points and not math.isfinite(points[-1].val_loss):
                return Outcome(job_id=job.id, cost_s=cost,
                               failure=diverged_failure(points[-1].val_loss, points[-1].step))
        else:
            tuner, candidate = backend.tuning(candidate, job.target)
            Path(candidate.workdir).mkdir(parents=True, exist_ok=True)
            points = tuner.run(candidate, job.until)
            # the first job.start trials were paid before; counted by position, as tuners number trials
            # from 0 or from 1
            before = points[job.start - 1].seconds if 0 < job.start <= len(points) else 0.0
            cost = points[-1].seconds - before if points else 0.0
        return Outcome(job_id=job.id, points=[point_record(p) for p in points], cost_s=cost)
    except Exception as err:  # noqa: BLE001  a failed job is recorded, the search goes on
        return Outcome(job_id=job.id, failure=classify_failure(err))


def point_record(point) -> dict:
    """A curve or tuning point as recorded: a long-context field not measured is left out, so a search
    without a long-context bound records its curves as it always has."""
    data = dataclasses.asdict(point)
    for key in ("long_loss", "long_ratio"):
        if key in data and data[key] is None:
            del data[key]
    return data


def classify_failure(err: BaseException) -> str:
    name, text = type(err).__name__, str(err)
    if isinstance(err, MemoryError) or "OutOfMemory" in name or "out of memory" in text.lower():
        kind = "OOM"
    elif "compile" in name.lower() or "Dynamo" in name or "Inductor" in name:
        kind = "compile error"
    else:
        kind = "error"
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    at = f" ({Path(where.filename).name}:{where.lineno})" if where else ""
    return f"{kind}: {name}: {text}{at}"


def _backend(payload: JobPayload) -> Backend:
    key = (payload.backend, repr(sorted(payload.spec_raw.items(), key=lambda kv: kv[0])))
    if key not in _BACKENDS:
        _BACKENDS[key] = build_backend(parse_spec(payload.spec_raw), payload.backend)
    return _BACKENDS[key]
