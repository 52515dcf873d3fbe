"""Replaying a recorded search: every block of decisions, and every block of new jobs, must be
exactly what the scheduler computes from the state folded up to it. This is the executable form of
"decisions are pure functions of the recorded state"."""

from __future__ import annotations

from dataclasses import dataclass

from sonar.search.records import Decision, Job
from sonar.search.schedulers import make_scheduler
from sonar.search.state import state_from_events


@dataclass(frozen=True)
class Mismatch:
    position: int
    recorded: list
    recomputed: list


def replay(events: list[tuple[str, dict, float]]) -> list[Mismatch]:
    """The blocks where a fresh scheduler disagrees with the record (empty: the record replays). A block
    cut short by a crash (the next event is a restart) must be a prefix of what the scheduler computes.
    The state is folded forward once; the scheduler only reads it, so each block sees the prefix."""
    state = state_from_events(events[:1])
    scheduler = make_scheduler(state.spec)
    mismatches = []
    i = 1
    while i < len(events):
        kind = events[i][0]
        j = i + 1
        while kind in ("decision", "job_submitted") and j < len(events) and events[j][0] == kind:
            j += 1
        if kind == "decision":
            recorded = [Decision(**p) for _, p, _ in events[i:j]]
            recomputed = scheduler.decide(state)
        elif kind == "job_submitted":
            resubmitted = {r.job.id for r in state.interrupted()}
            recorded = [job for job in (Job(**p) for _, p, _ in events[i:j]) if job.id not in resubmitted]
            recomputed = scheduler.next_jobs(state) if recorded else []
        else:
            recorded = recomputed = []
        crashed_here = j < len(events) and events[j][0] == "run_started"  # the engine died mid-block
        if recorded != recomputed and not (crashed_here and recomputed[: len(recorded)] == recorded):
            mismatches.append(Mismatch(position=i, recorded=recorded, recomputed=recomputed))
        for kind_k, payload, stamp in events[i:j]:
            state.apply(kind_k, payload, stamp)
        i = j
    return mismatches
