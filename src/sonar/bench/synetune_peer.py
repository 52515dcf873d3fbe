"""Syne Tune on the table: ASHA (constraint mode) and MOASHA (Pareto mode), an optional extra.

The schedulers are driven directly through their suggest / on_trial_result / on_trial_complete
hooks, one trial at a time, with training steps as `time_attr`; rungs sit at grace_period·4^k, which
are recorded checkpoints. Parts of Syne Tune draw from numpy's global generator, so each run seeds
it and restores the caller's state afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

import numpy as np

from sonar.bench.joint_space import JointSpace
from sonar.bench.peer_trial import PENALTY, Incumbent, run_peer_trial
from sonar.bench.replay import BudgetExhausted, ReplaySession

REDUCTION_FACTOR = 4
TRIALS_PER_CANDIDATE = 100  # a safeguard: each trial pays for a measurement, so the budget ends a run
# MOASHA re-sorts every rung into fronts on each result, quadratic in its trials (about 15 s for 300
# trials here), so its runs stop at this many trials per candidate even with budget left.
MOASHA_TRIALS_PER_CANDIDATE = 8
INSTALL_HINT = "Syne Tune is not installed (optional): pip install 'sonar[peers]'"


def synetune_available() -> bool:
    try:
        import syne_tune  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def _seeded_global_numpy(seed: int):
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


class SyneTunePeer:
    def __init__(self, kind: str):
        if kind not in ("asha", "moasha"):
            raise ValueError(f"kind={kind!r}: asha or moasha")
        self.kind = kind
        self.name = f"synetune_{kind}"
        self.modes = ("constraint",) if kind == "asha" else ("pareto",)

    def _scheduler(self, session: ReplaySession, space: JointSpace, seed: int):
        from syne_tune.config_space import choice

        checkpoints = session.table.header.checkpoints
        config_space = {name: choice(values) for name, values in space.choices.items()}
        common = dict(time_attr="step", max_t=checkpoints[-1], grace_period=checkpoints[0],
                      reduction_factor=REDUCTION_FACTOR, random_seed=seed)
        if self.kind == "asha":
            from syne_tune.optimizer.schedulers.asha import AsynchronousSuccessiveHalving

            return AsynchronousSuccessiveHalving(config_space, metric="val_loss", searcher="random_search",
                                                 **common)
        from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

        return MOASHA(config_space, metrics=["val_loss", "log_latency"], **common)

    def run(self, session: ReplaySession, seed: int) -> None:
        if not synetune_available():
            raise RuntimeError(INSTALL_HINT)
        from syne_tune.backend.trial_status import Trial
        from syne_tune.optimizer.scheduler import SchedulerDecision

        space = JointSpace(session.table)
        with _seeded_global_numpy(seed):
            scheduler = self._scheduler(session, space, seed)
            incumbent = Incumbent(session) if self.kind == "asha" else None
            per_candidate = TRIALS_PER_CANDIDATE if self.kind == "asha" else MOASHA_TRIALS_PER_CANDIDATE
            for trial_id in range(per_candidate * len(session.table.candidates)):
                suggestion = scheduler.suggest()
                if suggestion is None:
                    return
                trial = Trial(trial_id=trial_id, config=suggestion.config, creation_time=datetime.now())
                scheduler.on_trial_add(trial)
                last: dict = {}

                def keep_going(step: int, value: float, log_latency: float, trial=trial, last=last) -> bool:
                    last.update(step=step, val_loss=value, log_latency=log_latency)
                    return scheduler.on_trial_result(trial, dict(last)) != SchedulerDecision.STOP

                params = {name: suggestion.config[name] for name in space.choices}
                try:
                    result = run_peer_trial(session, space, params, keep_going)
                except BudgetExhausted:
                    return
                if result.completed or result.value >= PENALTY:
                    final = {"step": session.table.header.max_steps if result.completed else
                             session.table.header.checkpoints[0], "val_loss": result.value,
                             "log_latency": result.log_latency}
                    scheduler.on_trial_complete(trial, final)
                if incumbent is not None:  # MOASHA reports no single best: the session's default rule stands in
                    incumbent.offer(result)


def synetune_peers() -> list[SyneTunePeer]:
    return [SyneTunePeer("asha"), SyneTunePeer("moasha")]
