"""Training settings that suit each model preset (the small ones on a small CPU, medium on a GPU; used by the
CLI and the benchmark)."""

from __future__ import annotations

from sonar.data.dataset import DataConfig
from sonar.errors import UserError
from sonar.train.config import TRAINING_LIMITS, TrainConfig

_SHAPES = {  # (batch rows, tokens per row, peak learning rate)
    "debug": (8, 64, 3e-3),
    "tiny": (16, 64, 3e-3),
    "small": (8, 256, 1e-3),
    "medium": (8, 2048, 3e-4),  # a GPU's: 16k tokens a step keeps its matmuls compute-bound
}


def train_config_for(preset_name: str, *, steps: int, data: DataConfig | None = None, **changes) -> TrainConfig:
    """Settings for `steps` updates of a preset: the schedule's horizon is `steps`, warmup a tenth
    of it (at most 50), evaluated ten times."""
    if preset_name not in _SHAPES:
        raise UserError(f"no training settings for preset {preset_name!r}; choose one of {sorted(_SHAPES)}")
    if not 1 <= steps <= TRAINING_LIMITS["schedule_steps"]:
        raise UserError(f"steps={steps}: must be between 1 and {TRAINING_LIMITS['schedule_steps']:,}")
    batch, seq_len, lr = _SHAPES[preset_name]
    settings = dict(
        batch_size=batch, seq_len=seq_len, lr=lr, schedule_steps=steps, warmup_steps=min(50, steps // 10),
        eval_every=max(1, steps // 10), data=data if data is not None else DataConfig(),
    )
    settings.update(changes)
    config = TrainConfig(**settings)
    check_seq_len_fits(preset_name, config.seq_len)
    return config


def check_seq_len_fits(preset_name: str, seq_len: int) -> None:
    """A row no longer than the preset's positions: past max_position_embeddings the model was never meant to
    read, and a typo there (100000) trains for hours on one step."""
    from sonar.model import preset

    limit = preset(preset_name).max_position_embeddings
    if seq_len > limit:
        raise UserError(f"seq_len={seq_len}: preset {preset_name!r} reads at most {limit:,} positions "
                        "(max_position_embeddings)")
