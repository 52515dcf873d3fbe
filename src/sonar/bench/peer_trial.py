"""One peer trial on the table, the same for every peer library.

A trial is a point of the joint space: it measures its system config first (charged that trial's
recorded cost; latency does not depend on the weights), and an infeasible config ends the trial
with a penalty value at no training cost. Otherwise it trains through the table's checkpoints,
reporting val loss at exactly those steps, and asks the library after each report whether to go on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sonar.bench.joint_space import JointSpace
from sonar.bench.regret import Pick
from sonar.bench.replay import ReplaySession

PENALTY = 1e3  # the value an infeasible trial reports: worse than any loss


@dataclass(kw_only=True)
class PeerTrial:
    pick: Pick
    log_latency: float
    value: float = PENALTY
    completed: bool = False  # trained to the last checkpoint with a feasible config


def run_peer_trial(session: ReplaySession, space: JointSpace, params: dict[str, str],
                   keep_going: Callable[[int, float, float], bool]) -> PeerTrial:
    """keep_going(step, val_loss, log_latency) is the library's verdict after each report."""
    candidate_id, index = space.decode(params)
    # A peer's trial is a fresh run: it resumes no other trial's checkpoint and re-measures its config.
    session.restart(candidate_id)
    measured = session.measure(candidate_id, index, again=True)
    log_latency = math.log(measured.latency_s) if math.isfinite(measured.latency_s) else PENALTY
    trial = PeerTrial(pick=Pick(candidate_id=candidate_id, trial=index), log_latency=log_latency)
    if not session.objective.feasible(measured):
        return trial
    checkpoints = session.table.header.checkpoints
    for step in checkpoints:
        loss = session.train(candidate_id, step)[-1].val_loss
        trial.value = loss if math.isfinite(loss) else PENALTY
        if step == checkpoints[-1]:
            trial.completed = True
            break
        if not keep_going(step, trial.value, log_latency):
            break
    return trial


class Incumbent:
    """The best completed feasible trial so far, as the peer itself would report it."""

    def __init__(self, session: ReplaySession):
        self.session, self.best = session, None
        session.recommend(None if session.objective.mode == "constraint" else [])

    def offer(self, trial: PeerTrial) -> None:
        if trial.completed and (self.best is None or trial.value < self.best.value):
            self.best = trial
            self.session.recommend(trial.pick)
