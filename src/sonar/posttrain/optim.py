"""The optimizer every post-training stage uses: AdamW (matrices decayed, gains not) at a constant rate
after a short linear warm-up. Post-training runs are short; a decaying schedule buys little there."""

from __future__ import annotations

import math

import torch

from sonar.errors import UserError
from sonar.train.optimizer import parameter_groups, set_learning_rate


def build_adamw(model: torch.nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    if not lr > 0:
        raise UserError(f"lr={lr}: must be > 0")
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr, betas=(0.9, 0.95), foreach=True)


def warmup_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, model: torch.nn.Module, *, step: int,
                lr: float, warmup: int, grad_clip: float = 1.0) -> None:
    """One update at the warm-up-scaled rate, gradients clipped. A loss or weights that stop being finite
    (the run diverged: too high a rate) are one UserError, so no stage ever writes a NaN model."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise diverged(step, f"the loss is {value}", lr)
    set_learning_rate(optimizer, lr * min(1.0, (step + 1) / max(1, warmup)))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    optimizer.step()
    if not weights_finite(model):
        raise diverged(step, "the weights are no longer finite", lr)


def weights_finite(model: torch.nn.Module) -> bool:
    flags = [torch.isfinite(p).all() for p in model.parameters() if p.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


def diverged(step: int, what: str, lr: float) -> UserError:
    return UserError(f"training diverged at step {step + 1}: {what}; no model was written (try a lower"
                     f" learning rate than lr={lr:g}, or check the starting model)")
