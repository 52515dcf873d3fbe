"""The rung machinery over several targets (base.py calls these when a spec lists more than one).

Each target is scheduled by a copy of the scheduler that sees the state as that target alone does
(search/target_views.py): its tuning, its bound, its own population of tuning curves. Then:

    tune jobs:   one per target per rung, each from its own copy: its own trial counts, its own
                 `tuning_complete` (early stop per target), its own `needs_tuning` against its bound;
                 ids name the target (`c001/r2/tune@laptop`). Training waits while any of them tunes first.
    `each` (a winner per target):
        ranking:     every target's top 1/eta of the rung, merged in turns (target 1's best, target
                     2's best, target 1's second, ...) and cut to as many as one target's top holds: a
                     rung promotes as many candidates as with one target, shared between the targets.
                     (The whole union, up to one top per target, cost about twice as much to reach each
                     target's winner on the two-target replay, bench/multi_target.py.)
        elimination: a candidate is stopped only when it cannot be optimal on any target
        endgame:     every target's own endgame, one target a turn in rotation: a waiting candidate goes
                     on when that target's would promote it (it may beat that target's incumbent, or
                     the budget is spent on it), else the next target's; when none would, everyone
                     waiting stops
    `worst` (one winner within every bound): the one-target machinery on the normalised worst case
                 (target_views.worst_case_state); only the tune jobs come from here.
"""

from __future__ import annotations

import copy
import dataclasses

from sonar.search.records import Decision, Job
from sonar.search.schedulers.endgame import drain
from sonar.search.schedulers.policy import SPEND_REASON
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
    """Every target's top of rung k, merged in turns (each target's best, then each one's second, ...),
    cut to the length of the longest top."""
    tops = [one._top_of_rung(view, k) for one, view in scheduler.per_target.values()]
    merged: list[str] = []
    for position in range(max(map(len, tops), default=0)):
        for top in tops:
            if position < len(top) and top[position] not in merged:
                merged.append(top[position])
    return merged[: max(map(len, tops), default=0)]


def each_target_eliminations(scheduler, waiting: list[CandidateState]) -> dict[str, str]:
    """Candidates that cannot be optimal on any target, with every target's reason."""
    reasons = {name: one.eliminations(view, [c.on(name) for c in waiting])
               for name, (one, view) in scheduler.per_target.items()}
    return {c.id: "; ".join(f"{name}: {why[c.id]}" for name, why in reasons.items())
            for c in waiting if all(c.id in why for why in reasons.values())}


def each_target_drain(scheduler, idle: list[CandidateState], budget_left: bool,
                      decided: list[Decision], state: SearchState) -> list[Decision]:
    """Every target's endgame: the promotions of one target that makes some (its name in their reasons),
    or, when none does, the first target's stops (every endgame stops everyone waiting). One target a
    turn, as one target's endgame promotes one candidate a turn: the targets take the budget's
    promotions two turns each in rotation, so each target's alternation of best-ranked and drawn
    (explore_waiting counts the promotions) is kept; a target with nothing to promote passes its turn."""
    outcomes = [(name, drain(one, view, [c.on(name) for c in idle], budget_left, decided))
                for name, (one, view) in scheduler.per_target.items()]
    spent = sum(d.reason.startswith(SPEND_REASON) for d in state.decisions)
    turn = spent // 2 % len(outcomes)
    for name, decisions in outcomes[turn:] + outcomes[:turn]:
        promotions = [d for d in decisions if d.action == "promote"]
        if promotions:
            return [dataclasses.replace(d, reason=f"{d.reason} (target {name})") for d in promotions]
    return outcomes[0][1]
