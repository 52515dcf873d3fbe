"""Where the engine gets its Trainer and Tuner: the real ones, imported lazily by path, or synthetic.

The real classes are built from the spec in `build_real` only: adapt their constructor arguments here.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sonar.errors import UserError
from sonar.importing import import_object
from sonar.interfaces import Candidate, CurvePoint, Trainer, Tuner
from sonar.search.spec import SearchSpec, Target, workload_text
from sonar.search.synthetic import DEFAULT_SYSTEM_SPACE, SyntheticTrainer, SyntheticTuner

REAL_TRAINER = "sonar.train.trainer.CorpusTrainer"
REAL_TUNER = "sonar.systems.tuner.SystemTuner"


@dataclass
class Backend:
    trainer: Trainer
    tuner: Tuner  # the first (primary) target's: the only one of a single-target search
    target_tuners: dict[str, Tuner] = field(default_factory=dict)  # every further target's, by name

    def tuning(self, candidate: Candidate, target: str | None) -> tuple[Tuner, Candidate]:
        """The tuner for `target` and the candidate as that tuner sees it. The primary target's tuner
        keeps its progress in the candidate's workdir, as it always has; every further target's keeps
        its own under workdir/targets/<name>, so the tuners never clobber each other's state."""
        if target not in self.target_tuners:
            return self.tuner, candidate
        return self.target_tuners[target], dataclasses.replace(
            candidate, workdir=Path(candidate.workdir) / TARGETS_DIR / target)


def import_by_path(path: str) -> type:
    return import_object(path, role="backend real needs", hint="; use --backend synthetic to try the engine without it")


TARGETS_DIR = "targets"


def build_backend(spec: SearchSpec, kind: str | None = None) -> Backend:
    kind = kind or spec.backend
    if kind == "synthetic":
        tuners = [SyntheticTuner(target_system(spec, t, DEFAULT_SYSTEM_SPACE), spec.synthetic, target=t.name,
                                 primary=i == 0) for i, t in enumerate(spec.targets)]
        return Backend(trainer=SyntheticTrainer(spec.synthetic), tuner=tuners[0],
                       target_tuners={t.name: tuner for t, tuner in zip(spec.targets[1:], tuners[1:], strict=True)})
    if kind == "real":
        return build_real(spec)
    raise UserError(f"backend {kind!r}: must be real or synthetic")


def build_real(spec: SearchSpec) -> Backend:
    trainer_cls, tuner_cls = import_by_path(REAL_TRAINER), import_by_path(REAL_TUNER)
    trainer = PublishingTrainer(trainer_cls(train_config(spec)))
    tuners = [real_tuner(tuner_cls, spec, target) for target in spec.targets]
    return Backend(trainer=trainer, tuner=tuners[0],
                   target_tuners={t.name: FurtherTargetTuner(tuner, t.name)
                                  for t, tuner in zip(spec.targets[1:], tuners[1:], strict=True)})


def real_tuner(tuner_cls: type, spec: SearchSpec, target: Target):
    """The real tuner of one target: its device, its thread counts and workload where it sets them."""
    from sonar.systems import SearchSpace

    space = SearchSpace(**{knob: tuple(choices) for knob, choices in target_system(spec, target).items()},
                        target=target.device)
    # the compiled finalists, if the space compiles, come out of the last rung's trial budget
    return tuner_cls(space=space, workload=workload_text(target.workload or spec.workload),
                     max_trials=spec.budget.max_trials)


def target_system(spec: SearchSpec, target: Target, default: dict | None = None) -> dict:
    """The system space tuned on `target`: the spec's (or `default` where it sets none), with the
    target's own thread counts where it gives them."""
    system = dict(spec.system or default or {})
    if target.threads is not None:
        system["threads"] = list(target.threads)
    return system


class FurtherTargetTuner:
    """The real tuner of a target after the first. It runs on the candidate as Backend.tuning moves it
    (workdir/targets/<name>, where its state lives) and still measures the candidate's own weights
    (workdir/checkpoint), with a learned prior of its own beside the primary target's, since what is
    fast differs between devices. Jobs in one process run one at a time, so setting the paths per
    run is safe."""

    def __init__(self, tuner, name: str) -> None:
        self.tuner, self.name = tuner, name

    def run(self, candidate: Candidate, until_trial: int):
        home = Path(candidate.workdir).parent.parent  # the candidate's own workdir
        self.tuner.checkpoint = home / "checkpoint"
        self.tuner.prior_path = home.parent / f"systems-prior.{self.name}.json"
        return self.tuner.run(candidate, until_trial)


def train_config(spec: SearchSpec):
    """The spec's `data` and `training` sections as a TrainConfig. The tokenizer's vocabulary is the
    architecture space's, so every candidate reads the same tokens; the schedule spans max_steps; the
    device is `training.device`, else default_training_device's."""
    from sonar.data.dataset import DataConfig
    from sonar.search.spec_training import default_training_device
    from sonar.train.config import TrainConfig

    data = dict(spec.data)
    corpus = data.pop("corpus", "builtin")
    try:
        data_config = DataConfig(corpus=None if corpus == "builtin" else str(corpus),
                                 vocab_size=spec.arch.base_config().vocab_size, **data)
        defaults = {"schedule_steps": spec.budget.max_steps, "device": default_training_device(spec.targets)}
        return TrainConfig(data=data_config, **{**defaults, **spec.training})
    except TypeError as err:  # an unknown key in data or training
        raise UserError(f"data/training: {err}") from None


class PublishingTrainer:
    """Publishes each candidate's latest weights in transformers format under workdir/checkpoint,
    where the tuner measures them and `sonar export` finds them."""

    def __init__(self, trainer) -> None:
        self.trainer = trainer

    def run(self, candidate: Candidate, until_step: int, **options) -> list[CurvePoint]:
        curve = self.trainer.run(candidate, until_step, **options)  # options: long_factor, where a job asks
        if curve and not (math.isfinite(curve[-1].train_loss) and math.isfinite(curve[-1].val_loss)):
            # diverged: the job is recorded by its curve as such, with the cost it paid; its weights are not a
            # checkpoint anyone should measure or export (save_pretrained refuses non-finite weights)
            return curve
        from sonar.checkpoint import save_pretrained

        target = Path(candidate.workdir) / "checkpoint"
        save_pretrained(self.trainer.load_model(candidate), target, overwrite=True)  # keeps the tokenizer copied in
        tokenizer = Path(self.trainer.data.path) / "tokenizer.json"
        if tokenizer.is_file():
            shutil.copyfile(tokenizer, target / "tokenizer.json")
        return curve


def check_real_available() -> None:
    """Fail before any compute when the real backends are missing."""
    import_by_path(REAL_TRAINER)
    import_by_path(REAL_TUNER)


def check_local_devices(spec: SearchSpec) -> None:
    """Fail before any compute when the spec trains or tunes on a device this machine lacks (executors
    that run jobs here; a Ray cluster's devices are on its nodes): otherwise every job would fail alone,
    one by one, with the same reason."""
    from sonar.train.device import resolve_device

    try:
        resolve_device(train_config(spec).device)
    except UserError as err:
        raise UserError(f"training.device: {err}") from None
    for target in spec.targets:
        if target.device != "cpu":
            try:
                resolve_device(target.device)
            except UserError as err:
                raise UserError(f"targets: {target.name!r} tunes on {target.device}, absent here ({err})") from None
