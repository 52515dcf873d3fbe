"""The endgame of a rung scheduler (base.py), as functions of the scheduler, as screening.py and
targets.py are: what happens when nothing runs and nothing new can start (policy.py's "when nothing
runs and nothing can start" and its rules endgame_challengers, front_extenders, spend_budget,
explore_waiting and explore_to_end). Several targets call `drain` once per target (targets.py)."""

from __future__ import annotations

import math
import zlib

from sonar.search.long_context import recommendable
from sonar.search.objective import choose, dominates
from sonar.search.records import Decision
from sonar.search.schedulers.policy import CARRIED_REASON, DRAWN_REASON, SPEND_REASON
from sonar.search.state import FINISHED, CandidateState, SearchState


def drain(scheduler, state: SearchState, idle: list[CandidateState], budget_left: bool,
          decided: list[Decision]) -> list[Decision]:
    """Nothing runs and nothing new can start: promote the best waiting candidate of the highest
    rung while no acceptable candidate has finished, else those that may still beat (or, in Pareto
    mode, extend) what has finished, otherwise stop everyone still waiting."""
    finishing = {d.candidate for d in decided if d.action == "finish"}
    finished = [c for c in state.candidates.values() if c.status == FINISHED or c.id in finishing]
    finished = [c for c in finished if recommendable(scheduler.spec.objective.long_context, c.curve)]
    measured = [(c.id, c.val_loss(), c.best_latency(), scheduler.memory(c)) for c in finished]
    objective, rules = scheduler.spec.objective, scheduler.rules
    if budget_left and idle and objective.kind == "pareto" and measured and rules.front_extenders:
        extend = _front_extenders(scheduler, state, idle, [(m[1], m[2]) for m in measured])
        if extend:
            return extend
    incumbent = choose(scheduler.spec.objective, measured)
    if (budget_left and idle and scheduler.spec.objective.kind == "constraint" and incumbent is not None
            and scheduler.rules.endgame_challengers):
        challenge = _challengers(scheduler, state, idle, next(m[1] for m in measured if m[0] == incumbent))
        if challenge:
            return challenge
    spend = scheduler.rules.spend_budget and math.isfinite(scheduler.spec.budget.cost_s)
    if budget_left and idle and incumbent is not None and spend and scheduler.rules.explore_waiting:
        if scheduler.rules.explore_to_end:
            carried = drawn_carried_on(state, idle)
            if carried:
                return carried
        spent_on = [d for d in state.decisions if d.reason.startswith(SPEND_REASON)]
        if len(spent_on) % 2:  # every other promotion of the endgame: one the ranks did not pick
            low = min(c.rung for c in idle)
            waiting = sorted(c.id for c in idle if c.rung == low)
            pick = waiting[zlib.crc32(f"{scheduler.spec.seed}/{len(spent_on)}".encode()) % len(waiting)]
            return [Decision(candidate=pick, action="promote", rung=low + 1, reason=DRAWN_REASON)]
    if budget_left and idle and (incumbent is None or spend):
        top = max(c.rung for c in idle)
        waiting = {c.id for c in idle if c.rung == top}
        best = next(cid for cid in scheduler.rung_ranking(state, top) if cid in waiting)
        reason = "best waiting at the end" if incumbent is None else f"{SPEND_REASON}: the best waiting goes on"
        return [Decision(candidate=best, action="promote", rung=top + 1, reason=reason)]
    reason = "ranked out" if budget_left else "cost budget spent"
    return [Decision(candidate=c.id, action="stop", rung=c.rung, reason=reason) for c in idle]

def _challengers(scheduler, state: SearchState, idle: list[CandidateState], incumbent_loss: float) -> list[Decision]:
    """Constraint mode: waiting candidates that would still beat the best finished one, were they to
    improve as the best-improving candidates so far did, are promoted rather than ranked out: ASHA's
    fixed fraction drops them once a few others took the rung."""
    limit = scheduler.spec.objective.latency_s
    return _hopeful_promotions(scheduler, state, idle, lambda hope: hope[0] < incumbent_loss and hope[1] <= limit,
                                    reason="may beat the best finished")

def _front_extenders(scheduler, state: SearchState, idle: list[CandidateState],
                     finished: list[tuple[float, float]]) -> list[Decision]:
    """Pareto mode: waiting candidates that no finished point dominates, were they to improve as the
    best-improving candidates so far did, could still extend the front, so they are promoted rather
    than ranked out (the central forecast alone drops late bloomers)."""
    return _hopeful_promotions(scheduler, state, idle, lambda hope: not any(dominates(f, hope) for f in finished),
                                    reason="may extend the Pareto front")

def _hopeful_promotions(scheduler, state: SearchState, idle: list[CandidateState], may_help, *,
                        reason: str) -> list[Decision]:
    """The best-ranked waiting candidates of the highest rung that has any whose hopeful (loss,
    latency) `may_help`, one per worker."""
    slots = scheduler.spec.executor.workers
    for k in sorted({c.rung for c in idle}, reverse=True):
        waiting = {c.id: c for c in idle if c.rung == k}
        chosen = []
        for cid in scheduler.rung_ranking(state, k):
            if cid in waiting and len(chosen) < slots and may_help(scheduler.hopeful(waiting[cid], rung=k)):
                chosen.append(cid)
        if chosen:
            return [Decision(candidate=cid, action="promote", rung=k + 1, reason=reason) for cid in chosen]
    return []


def drawn_carried_on(state: SearchState, idle: list[CandidateState]) -> list[Decision]:
    """explore_to_end: a waiting candidate whose last promotion was a random draw of the endgame (or the
    carrying on of one) goes on, so a draw is judged on its final loss, not on the next rung's."""
    last_promotion = {d.candidate: d for d in state.decisions if d.action == "promote"}
    for c in sorted(idle, key=lambda c: c.id):
        reason = last_promotion[c.id].reason if c.id in last_promotion else ""
        if reason.startswith((DRAWN_REASON, CARRIED_REASON)):  # several targets add " (target ...)"
            return [Decision(candidate=c.id, action="promote", rung=c.rung + 1, reason=CARRIED_REASON)]
    return []
