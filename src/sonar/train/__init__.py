"""Training: optimizer and schedule, one step, exact-resume checkpoints, FLOP accounting, the Trainer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sonar.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sonar.train.config import SCHEDULES, TrainConfig
    from sonar.train.flops import matmul_peak, train_flops_per_token
    from sonar.train.schedule import learning_rate
    from sonar.train.trainer import CorpusTrainer, fit_vocab

# Imported on first use (sonar/lazy_exports.py): importing the package loads none of these modules.
EXPORTS = {
    "SCHEDULES": "sonar.train.config",
    "TrainConfig": "sonar.train.config",
    "matmul_peak": "sonar.train.flops",
    "train_flops_per_token": "sonar.train.flops",
    "learning_rate": "sonar.train.schedule",
    "CorpusTrainer": "sonar.train.trainer",
    "fit_vocab": "sonar.train.trainer",
}
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

__all__ = [
    "SCHEDULES", "CorpusTrainer", "TrainConfig", "fit_vocab", "learning_rate", "matmul_peak",
    "train_flops_per_token",
]
