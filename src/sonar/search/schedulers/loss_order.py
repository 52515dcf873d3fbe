"""Final losses first (the policy's `final_losses_first` rule), as functions of a rung scheduler
(base.py), as screening.py is for feasibility.

Constraint mode asks for the lowest final loss among the candidates with a configuration within the
bounds. Where tuning trials are dear and training steps cheap, the rungs' savings on training are small
and their risk is large (a late bloomer ranked out on its early loss), while every finalist's sweep
costs more than training everyone. So, in constraint mode with one target, once training every started
and unstarted candidate to the end would cost no more than SWEEPS whole sweeps (priced in steps from the
jobs done):

    trained_through: a waiting candidate goes on whatever its rank, with the workers left free, unless
                    even its hopeful loss cannot beat a feasible finalist's final loss;
    held_back:      at the last rung its tuning waits until its own training is done; then, while it
                    cannot yet meet the bounds, while any started candidate is still short of the last
                    step, and while `workers` trained-out candidates with lower final losses may still
                    meet the bounds: the sweeps are spent in order of final loss;
    outranked:      at the last rung and trained out, a trained-out candidate with a lower final loss
                    already meets the bounds, so no sweep can make it the pick: it is stopped. Exact,
                    not a forecast: both losses are measured at the last step.

Where steps are dear that condition never holds and the rungs work as before. Off in the policy: over the
suite it won big where tuning dominates (up to 13x) and lost up to 3x on tables where the rungs' early
ranking was right and training everyone was the waste (benchmarks/README.md).
"""

from __future__ import annotations

import math

from sonar.search.records import Decision
from sonar.search.schedulers.screening import feasible, swept
from sonar.search.state import ACTIVE, FAILED, CandidateState, SearchState

# How many whole sweeps the training left may cost. Measured at 1 and 4 (benchmarks/README.md): 4 gained more
# where tuning dominates and lost more elsewhere; the rule is off in the policy either way.
SWEEPS = 4.0



def _applies(scheduler) -> bool:
    return (scheduler.rules.final_losses_first and scheduler.spec.objective.kind == "constraint"
            and not scheduler.multi and len(scheduler.ladder) > 1)


def _last(scheduler) -> int:
    return len(scheduler.ladder) - 1


def _trained_out(scheduler, c: CandidateState) -> bool:
    return c.steps_done() >= scheduler.spec.budget.max_steps


def _cheap_to_finish(scheduler, state: SearchState) -> bool:
    """Training every candidate to the end (those not yet started included) costs no more than SWEEPS
    whole tuning sweeps, priced in steps from the jobs done."""
    if scheduler.trial_cost is None:
        return False
    max_steps = scheduler.spec.budget.max_steps
    unstarted = max(0, scheduler.spec.budget.candidates - len(state.candidates))
    steps_left = unstarted * max_steps + sum(max(0, max_steps - o.steps_done()) for o in state.candidates.values()
                                             if o.status == ACTIVE)
    return steps_left <= SWEEPS * scheduler.trial_cost * scheduler.spec.budget.max_trials


def _open(scheduler, c: CandidateState) -> bool:
    """Active, and not yet known to meet the bounds or to miss them."""
    return c.status == ACTIVE and not swept(scheduler, c) and not feasible(scheduler, c)


def trained_through(scheduler, state: SearchState, idle: list[CandidateState], decided: list[Decision],
                    slots: int) -> list[Decision]:
    """The waiting candidates that go on whatever their rank, highest rung first, with
    the workers new candidates and rank promotions leave free; those that even their hopeful loss leaves
    behind a feasible finalist stay waiting."""
    if not _applies(scheduler) or not _cheap_to_finish(scheduler, state):
        return []
    chosen = {d.candidate for d in decided}
    cheap = [c for c in sorted(idle, key=lambda c: (-c.rung, c.id)) if c.id not in chosen and c.rung < _last(scheduler)]
    best = best_feasible_final_loss(scheduler, state)
    cheap = [c for c in cheap if scheduler.hopeful(c, rung=c.rung)[0] < best]
    return [Decision(candidate=c.id, action="promote", rung=c.rung + 1,
                     reason="its training to the end costs less than its trials") for c in cheap[:max(0, slots)]]


def held_back(scheduler, state: SearchState, c: CandidateState) -> bool:
    """Whether the candidate's last-rung tuning waits (see the module's docstring)."""
    if not _applies(scheduler) or c.rung != _last(scheduler) or c.status != ACTIVE or swept(scheduler, c):
        return False
    if not _trained_out(scheduler, c):
        return _cheap_to_finish(scheduler, state)
    if feasible(scheduler, c):
        return False
    if _training_left(scheduler, state):
        return True
    ahead = [o for o in state.candidates.values()
             if o.id != c.id and o.rung == _last(scheduler) and _trained_out(scheduler, o) and _open(scheduler, o)
             and (o.val_loss(), o.id) < (c.val_loss(), c.id)]
    return len(ahead) >= scheduler.spec.executor.workers


def _training_left(scheduler, state: SearchState) -> bool:
    """Some started candidate is still to be trained to the end, and all the training left is cheap.
    (Candidates not yet started do not hold a sweep back: with the cost budget spent they never start,
    and a sweep held for them would never run.)"""
    active = any(o.status == ACTIVE and not _trained_out(scheduler, o) for o in state.candidates.values())
    return active and _cheap_to_finish(scheduler, state)


def best_feasible_final_loss(scheduler, state: SearchState, but: str | None = None) -> float:
    """The lowest final loss of a trained-out finalist that meets the bounds (inf: none yet)."""
    return min((o.val_loss() for o in state.candidates.values()
                if o.id != but and o.rung == _last(scheduler) and _trained_out(scheduler, o) and o.status != FAILED
                and feasible(scheduler, o)), default=math.inf)


def outranked(scheduler, state: SearchState, c: CandidateState) -> bool:
    """A trained-out finalist with a lower final loss already meets the bounds."""
    if not _applies(scheduler) or c.rung != _last(scheduler) or not _trained_out(scheduler, c):
        return False
    return best_feasible_final_loss(scheduler, state, but=c.id) < c.val_loss()
