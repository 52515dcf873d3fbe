"""Syne Tune on the table: ASHA (constraint mode) and MOASHA (Pareto mode), an optional extra
(`make bench-peers` installs it).

The schedulers are driven directly through their suggest / on_trial_result / on_trial_complete
hooks, one trial at a time, with training steps as `time_attr`; rungs sit at grace_period·4^k, which
are recorded checkpoints. Parts of Syne Tune draw from numpy's global generator, so each run seeds
it and restores the caller's state afterwards.

Settings: `synetune_asha` is ASHA as documented (stopping rule, one bracket, random search) with
the rungs on the table's checkpoints; `synetune_asha_brackets` is the one tuned setting: as many
brackets as rungs (asynchronous Hyperband), for robustness to late bloomers. Syne Tune 0.16's ASHA
has no `type="promotion"` (its schedulers only stop, never pause); the driver still honours a PAUSE
and a later resume suggestion, resuming the trial from its own checkpoint (the session charges only
the steps it has not trained), so a pausing scheduler gets the engine's resume advantage.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from datetime import datetime

import numpy as np

from sonar.bench.joint_space import JointSpace
from sonar.bench.peer_trial import PENALTY, PeerTrial, continue_peer_trial, start_peer_trial
from sonar.bench.replay import BudgetExhausted, ReplaySession

REDUCTION_FACTOR = 4
# A safeguard, the same for every kind: each trial pays for a measurement, so the budget ends a run. MOASHA
# once stopped at 8 trials per candidate, because it re-sorts a rung into fronts on every result (a run
# takes about 70 s here rather than 7); that left it a third of the budget SONAR gets, and it now has all.
TRIALS_PER_CANDIDATE = 100
INSTALL_HINT = "Syne Tune is not installed (optional): make bench-peers, or pip install 'sonar[peers]'"
KINDS = ("asha", "asha_brackets", "moasha")


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
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: one of {list(KINDS)}")
        self.kind = kind
        self.name = f"synetune_{kind}"
        self.modes = ("pareto",) if kind == "moasha" else ("constraint",)

    def _scheduler(self, session: ReplaySession, space: JointSpace, seed: int):
        from syne_tune.config_space import choice

        checkpoints = session.table.header.checkpoints
        config_space = {name: choice(values) for name, values in space.choices.items()}
        common = dict(time_attr="step", max_t=checkpoints[-1], grace_period=checkpoints[0],
                      reduction_factor=REDUCTION_FACTOR, random_seed=seed)
        if self.kind == "moasha":
            from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

            return MOASHA(config_space, metrics=["val_loss", "log_latency"], **common)
        from syne_tune.optimizer.schedulers.asha import AsynchronousSuccessiveHalving

        rungs = 1 + int(math.floor(math.log(checkpoints[-1] / checkpoints[0], REDUCTION_FACTOR) + 1e-9))
        return AsynchronousSuccessiveHalving(config_space, metric="val_loss", searcher="random_search",
                                             brackets=rungs if self.kind == "asha_brackets" else 1, **common)

    def run(self, session: ReplaySession, seed: int) -> None:
        if not synetune_available():
            raise RuntimeError(INSTALL_HINT)
        with _seeded_global_numpy(seed):
            try:
                self._drive(session, seed)
            except BudgetExhausted:
                return

    def _drive(self, session: ReplaySession, seed: int) -> None:
        from syne_tune.backend.trial_status import Trial
        from syne_tune.optimizer.scheduler import SchedulerDecision

        space = JointSpace(session.table)
        scheduler = self._scheduler(session, space, seed)
        paused: dict[int, tuple[Trial, PeerTrial]] = {}
        next_id = 0
        for _ in range(TRIALS_PER_CANDIDATE * len(session.table.candidates)):
            suggestion = scheduler.suggest()
            if suggestion is None:
                return
            if not suggestion.spawn_new_trial_id and suggestion.checkpoint_trial_id in paused:
                trial, peer = paused.pop(suggestion.checkpoint_trial_id)  # resumed from its own checkpoint
            else:
                trial = Trial(trial_id=next_id, config=suggestion.config, creation_time=datetime.now())
                next_id += 1
                scheduler.on_trial_add(trial)
                params = {name: suggestion.config[name] for name in space.choices}
                peer = start_peer_trial(session, space, params, run=str(trial.trial_id))
            decision = [SchedulerDecision.CONTINUE]

            def keep_going(step: int, value: float, log_latency: float, trial=trial, decision=decision) -> bool:
                decision[0] = scheduler.on_trial_result(
                    trial, {"step": step, "val_loss": value, "log_latency": log_latency})
                return decision[0] == SchedulerDecision.CONTINUE

            continue_peer_trial(session, peer, keep_going)
            if decision[0] == SchedulerDecision.PAUSE and not peer.completed:
                paused[trial.trial_id] = (trial, peer)
            elif peer.completed or peer.value >= PENALTY:
                step = session.table.header.max_steps if peer.completed else session.table.header.checkpoints[0]
                scheduler.on_trial_complete(trial, {"step": step, "val_loss": peer.value,
                                                    "log_latency": peer.log_latency})


def synetune_peers() -> list[SyneTunePeer]:
    return [SyneTunePeer(kind) for kind in KINDS]
