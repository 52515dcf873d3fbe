"""Where the engine gets its Trainer and Tuner: the real ones, imported lazily by path, or synthetic.

The real classes are built from the spec in `build_real` only: adapt their constructor arguments here.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sonar.errors import UserError
from sonar.importing import import_object
from sonar.interfaces import Candidate, CurvePoint, Trainer, Tuner
from sonar.search.spec import SearchSpec, workload_text
from sonar.search.synthetic import SyntheticTrainer, SyntheticTuner

REAL_TRAINER = "sonar.train.trainer.CorpusTrainer"
REAL_TUNER = "sonar.systems.tuner.SystemTuner"


@dataclass
class Backend:
    trainer: Trainer
    tuner: Tuner


def import_by_path(path: str) -> type:
    return import_object(path, role="backend real needs", hint="; use --backend synthetic to try the engine without it")


def build_backend(spec: SearchSpec, kind: str | None = None) -> Backend:
    kind = kind or spec.backend
    if kind == "synthetic":
        return Backend(trainer=SyntheticTrainer(spec.synthetic), tuner=SyntheticTuner(spec.system, spec.synthetic))
    if kind == "real":
        return build_real(spec)
    raise UserError(f"backend {kind!r}: must be real or synthetic")


def build_real(spec: SearchSpec) -> Backend:
    trainer_cls, tuner_cls = import_by_path(REAL_TRAINER), import_by_path(REAL_TUNER)
    trainer = PublishingTrainer(trainer_cls(train_config(spec)))
    from sonar.systems import SearchSpace

    space = SearchSpace(**{knob: tuple(choices) for knob, choices in spec.system.items()},
                        target=spec.targets[0].device)
    # the compiled finalists, if the space compiles, come out of the last rung's trial budget
    tuner = tuner_cls(space=space, workload=workload_text(spec.workload), max_trials=spec.budget.max_trials)
    return Backend(trainer=trainer, tuner=tuner)


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

    def run(self, candidate: Candidate, until_step: int) -> list[CurvePoint]:
        curve = self.trainer.run(candidate, until_step)
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
