"""Optuna on the table: SuccessiveHalving and Hyperband pruners, each with TPE and random samplers.

Training steps are the pruning resource; the table's checkpoints are geometric with ratio 2 and the
reduction factor is 4, so every rung falls exactly on a recorded step. Constraint mode only: Optuna's
pruners compare one value. Optuna cannot resume a pruned trial (a pruned trial is final, and its
pruners never pause), so unlike the engine and Syne Tune's drivers, no trial here ever continues
from a checkpoint: each trial trains from step 0. The recommendation is the benchmark's rule
applied to what the trials observed, as for every method.
"""

from __future__ import annotations

from sonar.bench.joint_space import JointSpace
from sonar.bench.peer_trial import PENALTY, run_peer_trial
from sonar.bench.replay import BudgetExhausted, ReplaySession

REDUCTION_FACTOR = 4
TRIALS_PER_CANDIDATE = 100  # a safeguard: each trial pays for a measurement, so the budget ends a run


def _optuna():
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def optuna_available() -> bool:
    return _optuna() is not None


class OptunaPeer:
    modes = ("constraint",)

    def __init__(self, *, pruner: str, sampler: str):
        if pruner not in ("sh", "hyperband") or sampler not in ("tpe", "random"):
            raise ValueError(f"pruner={pruner!r} sampler={sampler!r}: pruner sh|hyperband, sampler tpe|random")
        self.pruner_name, self.sampler_name = pruner, sampler
        self.name = f"optuna_{pruner}_{sampler}"

    def _study(self, optuna, session: ReplaySession, seed: int):
        checkpoints = session.table.header.checkpoints
        if self.pruner_name == "sh":
            pruner = optuna.pruners.SuccessiveHalvingPruner(
                min_resource=checkpoints[0], reduction_factor=REDUCTION_FACTOR)
        else:
            pruner = optuna.pruners.HyperbandPruner(
                min_resource=checkpoints[0], max_resource=checkpoints[-1], reduction_factor=REDUCTION_FACTOR)
        if self.sampler_name == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed)
        else:
            sampler = optuna.samplers.RandomSampler(seed=seed)
        # Hyperband assigns brackets by hashing the study name: a fixed name keeps a seed reproducible.
        return optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner,
                                   study_name=f"{self.name}-seed{seed}")

    def run(self, session: ReplaySession, seed: int) -> None:
        optuna = _optuna()
        if optuna is None:
            raise RuntimeError("optuna is not installed: pip install 'sonar[bench]'")
        space = JointSpace(session.table)
        distributions = {name: optuna.distributions.CategoricalDistribution(values)
                         for name, values in space.choices.items()}
        study = self._study(optuna, session, seed)
        for _ in range(TRIALS_PER_CANDIDATE * len(session.table.candidates)):
            trial = study.ask(distributions)

            def keep_going(step: int, value: float, _log_latency: float, trial=trial) -> bool:
                trial.report(value, step)
                return not trial.should_prune()

            try:
                result = run_peer_trial(session, space, dict(trial.params), keep_going, run=str(trial.number))
            except BudgetExhausted:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return
            if result.completed or result.value >= PENALTY:
                study.tell(trial, result.value)
            else:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)


def optuna_peers() -> list[OptunaPeer]:
    return [OptunaPeer(pruner=p, sampler=s) for p in ("sh", "hyperband") for s in ("tpe", "random")]
