"""The shared-checkpoint rule under a constraint: which candidate is recommended while others still train.

    leader      = the best finished candidate that meets the objective (the caller chooses it)
    challengers = running candidates that meet the objective, trained at least L/eta, whose latest loss
                  is lower than the leader's loss at the same step
    pick        = the leader while there is no challenger; else the challenger with the lowest loss at
                  the deepest step every challenger has reached (ties: the smaller id)

Both `sonar status` (search/results.py) and the benchmark (bench/recommend.py) recommend by it, so what a
user is shown is what the benchmark scores.

Why not compare the whole pool, leader included, at the deepest step all of it has reached: a candidate that
joins the pool at L/eta then drags every comparison down to L/eta, where a candidate that is worse at L can
lead. The pick flipped between finished candidates each time a new one joined (eight times in one replay of
cpu-v1, seventeen in one synthetic table), though nothing new was known about the finished ones. Here a
finished candidate is judged at L, and only a running candidate's own evidence against the leader, at the
steps the two share, moves the pick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


def checkpoint_pick(leader: str, running_steps: Mapping[str, int], loss_at: Callable[[str, int], float]) -> str:
    """The pick among `leader` and the running candidates (id -> steps trained; the caller leaves out those
    that miss the objective or are trained less than L/eta). `loss_at(id, step)` is a candidate's loss at its
    last evaluation at or before `step` (inf where there is none)."""
    challengers = {cid: steps for cid, steps in running_steps.items()
                   if cid != leader and loss_at(cid, steps) < loss_at(leader, steps)}
    if not challengers:
        return leader
    common = min(challengers.values())
    return min(sorted(challengers), key=lambda cid: (loss_at(cid, common), cid))
