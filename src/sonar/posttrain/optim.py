"""The optimizer every post-training stage uses: AdamW (matrices decayed, gains not) at a constant rate
after a short linear warm-up. Post-training runs are short; a decaying schedule buys little there."""

from __future__ import annotations

import math

import torch

from sonar.errors import UserError
from sonar.train.optimizer import parameter_groups, set_learning_rate, weights_finite


def build_adamw(model: torch.nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    if not lr > 0:
        raise UserError(f"lr={lr}: must be > 0")
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr, betas=(0.9, 0.95), foreach=True)


def warmup_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, model: torch.nn.Module, *, step: int,
                lr: float, warmup: int, grad_clip: float = 1.0, check_weights: bool = True) -> None:
    """One update at the warm-up-scaled rate, gradients clipped. A loss or weights that stop being finite
    (the run diverged: too high a rate) are one UserError, so no stage ever writes a NaN model.
    A loop whose next step always computes a loss may check the weights on its last step only: weights
    gone non-finite make the next loss non-finite, and reading every weight costs 4-8% of a step."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise diverged(step, f"the loss is {value}", lr)
    set_learning_rate(optimizer, lr * min(1.0, (step + 1) / max(1, warmup)))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    optimizer.step()
    if check_weights and not weights_finite(model):
        raise diverged(step, "the weights are no longer finite", lr)


def diverged(step: int, what: str, lr: float) -> UserError:
    return UserError(f"training diverged at step {step + 1}: {what}; no model was written (try a lower"
                     f" learning rate than lr={lr:g}, or check the starting model)")
