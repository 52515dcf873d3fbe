"""The learning rate as a pure function of the step (the 0-based index of the update about to run)."""

from __future__ import annotations

import math

from sonar.errors import UserError
from sonar.field_types import is_whole
from sonar.train.config import TrainConfig


def learning_rate(step: int, config: TrainConfig) -> float:
    if not isinstance(config, TrainConfig):
        raise UserError(f"config: expected a TrainConfig, got {type(config).__name__}")
    if not is_whole(step, 0):
        # a negative step gave a negative rate, a float one a rate between steps
        raise UserError(f"step={step!r}: must be an integer >= 0 (the index of the update about to run)")
    peak, floor = config.lr, config.lr * config.min_lr_ratio
    # 1) linear warmup from peak/warmup to peak
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return peak
    horizon = max(config.schedule_steps, config.warmup_steps + 1)
    # Past the horizon every schedule sits at its floor: the same value, without a huge step overflowing a float.
    step = min(int(step), horizon)
    if config.schedule == "cosine":
        # 2) cosine from peak to floor over the rest of the horizon, 3) floor after it
        progress = min(1.0, (step - config.warmup_steps) / (horizon - config.warmup_steps))
        return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))
    # wsd: 2) stable at peak, 3) linear decay to floor over the last decay_fraction, 4) floor after it
    decay_start = max(config.warmup_steps, horizon - math.ceil(config.decay_fraction * horizon))
    if step < decay_start:
        return peak
    progress = min(1.0, (step - decay_start) / max(1, horizon - decay_start))
    return peak + (floor - peak) * progress
