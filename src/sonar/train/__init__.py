"""Training: optimizer and schedule, one step, exact-resume checkpoints, FLOP accounting, the Trainer."""

from sonar.train.config import SCHEDULES, TrainConfig
from sonar.train.flops import matmul_peak, train_flops_per_token
from sonar.train.schedule import learning_rate
from sonar.train.trainer import CorpusTrainer, fit_vocab

__all__ = [
    "SCHEDULES", "CorpusTrainer", "TrainConfig", "fit_vocab", "learning_rate", "matmul_peak",
    "train_flops_per_token",
]
