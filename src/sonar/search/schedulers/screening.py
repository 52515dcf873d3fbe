"""Screening for feasibility (the policy's `screen_feasibility` rule), as functions of a rung scheduler
(base.py) and one candidate, as targets.py is for several targets.

    screens:      a candidate promoted past rung 0 that has no configuration yet meeting the bounds is
                  tuned on, one ladder budget of trials at a time and before its new rung's training,
                  while the rest of its sweep costs no more than that training (priced from the jobs
                  done). A promotion is then spent only on a candidate that can meet the bound, and the
                  rung ranks the feasible ones: where trials are cheap, knowing who can meet the bound
                  costs less than the steps it saves. Screening every candidate at rung 0 instead paid
                  for whole sweeps of candidates the rungs would have dropped on loss anyway
                  (benchmarks/README.md).
                  sweep_finalists_first: at the last rung, whatever the rest of the sweep costs (unless
                  final_losses_first orders the last rung).
    screened_out: its whole sweep is measured and no configuration meets the bounds, so no more
                  training can make it a pick (several targets, a winner each: on every target; the
                  worst case over targets: left to its ranking).
"""

from __future__ import annotations

from sonar.search.state import CandidateState


def feasible(scheduler, c: CandidateState) -> bool:
    """Constraint mode: a measured configuration meets every bound."""
    objective = scheduler.spec.objective
    memory_ok = objective.memory_bytes is None or scheduler.memory(c) <= objective.memory_bytes
    return memory_ok and c.best_latency() <= objective.latency_s


def swept(scheduler, c: CandidateState) -> bool:
    """The candidate's tuning sweep is over: the tuner said so, or the trial budget is spent."""
    return c.tuning_complete or c.trials_done() >= scheduler.spec.budget.max_trials


def screens(scheduler, c: CandidateState) -> bool:
    """Whether the candidate's tuning goes on, ahead of its rung's training, to find a feasible config."""
    if (not scheduler.rules.screen_feasibility or scheduler.spec.objective.kind != "constraint" or c.rung < 1
            or scheduler.trial_cost is None):
        return False
    if swept(scheduler, c) or feasible(scheduler, c):
        return False
    # final_losses_first orders the last rung the other way (training first, then sweeps in final-loss order)
    if (scheduler.rules.sweep_finalists_first and not scheduler.rules.final_losses_first
            and c.rung == len(scheduler.ladder) - 1):
        return True  # the dearest steps of the ladder wait for the sweep that may rule them out
    sweep_left = scheduler.trial_cost * (scheduler.spec.budget.max_trials - c.trials_done())
    return sweep_left <= scheduler.ladder[c.rung][0] - c.steps_done()


def screened_out(scheduler, c: CandidateState) -> bool:
    """Whether the candidate is to be stopped: its whole sweep misses the bounds."""
    if scheduler.per_target and not scheduler.worst:
        return all(screened_out(one, c.on(name)) for name, (one, _) in scheduler.per_target.items())
    if (not scheduler.rules.screen_feasibility or scheduler.spec.objective.kind != "constraint"
            or scheduler.multi):
        return False
    return swept(scheduler, c) and bool(c.tuning) and not feasible(scheduler, c)
