"""The rung machinery over several targets (base.py calls these when a spec lists more than one).

Each target is scheduled by a copy of the scheduler that sees the state as that target alone does
(search/target_views.py): its tuning, its bound, its own population of tuning curves. Then:

    tune jobs:   one per target per rung, each from its own copy: its own trial counts, its own
                 `tuning_complete` (early stop per target), its own `needs_tuning` against its bound;
                 ids name the target (`c001/r2/tune@laptop`). Training waits while any of them tunes first.
    `each` (a winner per target):
        ranking:     a rung's promotions are the union of every target's top 1/eta, taken in turn
                     (target 1's best, target 2's best, ...), so no target's candidates starve
        elimination: a candidate is stopped only when it cannot be optimal on any target
        endgame:     every target's own endgame; a waiting candidate goes on when any target's would
                     promote it (it may beat that target's incumbent), else everyone waiting stops
    `worst` (one winner within every bound): the one-target machinery on the normalised worst case
                 (target_views.worst_case_state); only the tune jobs come from here.
"""

from __future__ import annotations

import copy
import dataclasses

from sonar.search.records import Decision, Job
from sonar.search.state import CandidateState, SearchState
from sonar.search.target_views import target_spec, target_state


def per_target_schedulers(scheduler, state: SearchState) -> dict[str, tuple]:
    """Target name -> (a copy of `scheduler` for that target alone, refit on its view, and the view)."""
    result = {}
    for target in scheduler.spec.targets:
        one = copy.copy(scheduler)
        one.spec = target_spec(scheduler.spec, target)
        one.multi = one.worst = False
        one.names_target = True
        one.per_target = None
        view = target_state(state, target)
        one._refit(view)
        result[target.name] = (one, view)
    return result


def tune_jobs(scheduler, c: CandidateState) -> list[Job]:
    """The candidate's current tune job on every target that still wants one."""
    jobs = [one.tune_job(c.on(name)) for name, (one, _) in scheduler.per_target.items()]
    return [job for job in jobs if job is not None]


def each_target_top(scheduler, k: int) -> list[str]:
    """Every target's top of rung k, merged in turns: each target's best first, then each one's second..."""
    tops = [one._top_of_rung(view, k) for one, view in scheduler.per_target.values()]
    merged: list[str] = []
    for position in range(max(map(len, tops), default=0)):
        for top in tops:
            if position < len(top) and top[position] not in merged:
                merged.append(top[position])
    return merged


def each_target_eliminations(scheduler, waiting: list[CandidateState]) -> dict[str, str]:
    """Candidates that cannot be optimal on any target, with every target's reason."""
    reasons = {name: one.eliminations(view, [c.on(name) for c in waiting])
               for name, (one, view) in scheduler.per_target.items()}
    return {c.id: "; ".join(f"{name}: {why[c.id]}" for name, why in reasons.items())
            for c in waiting if all(c.id in why for why in reasons.values())}


def each_target_drain(scheduler, idle: list[CandidateState], budget_left: bool,
                      decided: list[Decision]) -> list[Decision]:
    """Every target's endgame: the promotions any of them makes (each once, the target named in its
    reason), or, when none promotes, the first target's stops (every endgame stops everyone waiting)."""
    outcomes = [(name, one._drain(view, [c.on(name) for c in idle], budget_left, decided))
                for name, (one, view) in scheduler.per_target.items()]
    promoted: dict[str, Decision] = {}
    for name, decisions in outcomes:
        for d in decisions:
            if d.action == "promote" and d.candidate not in promoted:
                promoted[d.candidate] = dataclasses.replace(d, reason=f"{d.reason} (target {name})")
    return list(promoted.values()) or outcomes[0][1]
