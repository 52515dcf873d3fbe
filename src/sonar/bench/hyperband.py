"""Hyperband over the joint space (Li et al., JMLR 2018), synchronous, as a reference baseline.

A trial is a point of the joint space, (candidate, config index), drawn uniformly at random; its
resource is training steps on the table's checkpoints. The paper's pseudo-code, with R the
maximum resource in units of the smallest one (r_min = the first checkpoint) and eta = 4:

    s_max = floor(log_eta(R));  B = (s_max + 1) R
    repeat until the budget is spent:
      for s = s_max, s_max - 1, ..., 0:
        n = ceil(B / R · eta^s / (s + 1));  r = R · eta^-s
        T = n trials drawn at random
        for i = 0, ..., s:
          n_i = floor(n · eta^-i);  r_i = r · eta^i
          L = the val loss of every trial in T trained to r_i (r_i · r_min steps, rounded up
              to a recorded checkpoint)
          T = the floor(n_i / eta) trials of T with the lowest L (all of T at i = s)

Each trial first measures its config, as every peer trial does (peer_trial.py): an infeasible one
reports a penalty at no training cost. A promoted trial resumes from its own checkpoint (its own
run in the session), paying only the steps it has not trained.
"""

from __future__ import annotations

import math

import numpy as np

from sonar.bench.joint_space import JointSpace
from sonar.bench.peer_trial import PeerTrial, start_peer_trial, train_peer_trial
from sonar.bench.replay import ReplaySession

ETA = 4
TRIALS_PER_CANDIDATE = 100  # a safeguard, as for the peers: each trial pays for a measurement


def brackets(max_resource: int, eta: int = ETA) -> list[list[tuple[int, int]]]:
    """Per bracket (s = s_max .. 0): its rungs as (trials n_i, resource r_i in units of r_min)."""
    s_max = int(math.floor(math.log(max_resource, eta) + 1e-9))
    budget = (s_max + 1) * max_resource
    out = []
    for s in range(s_max, -1, -1):
        n = math.ceil(budget / max_resource * eta ** s / (s + 1))
        r = max_resource * eta ** -s
        out.append([(math.floor(n * eta ** -i), r * eta ** i) for i in range(s + 1)])
    return out


class HyperbandJoint:
    name = "hyperband_joint"
    modes = ("constraint",)

    def run(self, session: ReplaySession, seed: int) -> None:
        checkpoints = session.table.header.checkpoints
        space = JointSpace(session.table)
        rng = np.random.default_rng(seed)
        plan = brackets(checkpoints[-1] // checkpoints[0])
        names = sorted(space.choices)
        trial_id = 0
        while trial_id < TRIALS_PER_CANDIDATE * len(session.table.candidates):  # the budget ends it first
            for rungs in plan:
                live: list[PeerTrial] = []
                for _ in range(rungs[0][0]):
                    params = {name: space.choices[name][rng.integers(len(space.choices[name]))] for name in names}
                    live.append(start_peer_trial(session, space, params, run=str(trial_id)))
                    trial_id += 1
                for i, (n_i, r_i) in enumerate(rungs):
                    step = _checkpoint_at_least(checkpoints, r_i * checkpoints[0])
                    for trial in live:
                        train_peer_trial(session, trial, step)
                    if i < len(rungs) - 1:
                        live = sorted(live, key=lambda t: t.value)[: n_i // ETA]


def _checkpoint_at_least(checkpoints: tuple[int, ...], steps: float) -> int:
    return next((c for c in checkpoints if c >= steps - 1e-9), checkpoints[-1])
