"""One peer trial on the table, the same for every peer library (and the Hyperband baseline).

A trial is a point of the joint space: it measures its system config first (charged that trial's
recorded cost; latency does not depend on the weights), and an infeasible config ends the trial
with a penalty value at no training cost. Otherwise it trains through the table's checkpoints,
reporting val loss at exactly those steps, and asks the library after each report whether to go on.
Each trial is a run of its own in the session: a new trial trains from step 0 (it resumes no other
trial's checkpoint), while a paused trial that is resumed pays only the steps it has not trained.
What is recommended is not the library's business: the session's rule picks from what was observed.
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
    run: str  # the session's run key: this trial's own checkpoint
    log_latency: float
    feasible: bool
    value: float = PENALTY
    step: int = 0  # trained so far
    completed: bool = False  # trained to the last checkpoint with a feasible config


def start_peer_trial(session: ReplaySession, space: JointSpace, params: dict[str, str], *, run: str) -> PeerTrial:
    """Decode the suggestion and measure its config (re-measured: the library keeps no record of it)."""
    candidate_id, index = space.decode(params)
    if index < 0:  # the table recorded no tuning trial for it: nothing to measure, so it is never feasible
        return PeerTrial(pick=Pick(candidate_id=candidate_id, trial=0), run=run, log_latency=PENALTY, feasible=False)
    measured = session.measure(candidate_id, index, again=True)
    log_latency = math.log(measured.latency_s) if math.isfinite(measured.latency_s) else PENALTY
    return PeerTrial(pick=Pick(candidate_id=candidate_id, trial=index), run=run, log_latency=log_latency,
                     feasible=session.objective.feasible(measured))


def train_peer_trial(session: ReplaySession, trial: PeerTrial, step: int) -> None:
    """Train a feasible trial on to `step` from its own checkpoint; an infeasible one stays at the penalty."""
    if not trial.feasible or step <= trial.step:
        return
    loss = session.train(trial.pick.candidate_id, step, run=trial.run)[-1].val_loss
    trial.value = loss if math.isfinite(loss) else PENALTY
    trial.step = step
    trial.completed = step >= session.table.header.max_steps


def continue_peer_trial(session: ReplaySession, trial: PeerTrial,
                        keep_going: Callable[[int, float, float], bool]) -> bool:
    """Train through the checkpoints after the trial's own step while keep_going(step, val_loss,
    log_latency) allows; True if the library let it go on after its last report (not stopped)."""
    for step in (s for s in session.table.header.checkpoints if s > trial.step):
        if not trial.feasible:
            return False
        train_peer_trial(session, trial, step)
        if trial.completed:
            return True
        if not keep_going(step, trial.value, trial.log_latency):
            return False
    return trial.feasible


def run_peer_trial(session: ReplaySession, space: JointSpace, params: dict[str, str],
                   keep_going: Callable[[int, float, float], bool], *, run: str) -> PeerTrial:
    """A whole trial: measure, then train while the library lets it go on."""
    trial = start_peer_trial(session, space, params, run=run)
    continue_peer_trial(session, trial, keep_going)
    return trial
