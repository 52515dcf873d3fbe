"""The optimizer every post-training stage uses: AdamW (matrices decayed, gains not) at a constant rate
after a short linear warm-up. Post-training runs are short; a decaying schedule buys little there."""

from __future__ import annotations

import torch

from sonar.errors import UserError
from sonar.train.optimizer import parameter_groups, set_learning_rate


def build_adamw(model: torch.nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    if not lr > 0:
        raise UserError(f"lr={lr}: must be > 0")
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr, betas=(0.9, 0.95), foreach=True)


def warmup_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, model: torch.nn.Module, *, step: int,
                lr: float, warmup: int, grad_clip: float = 1.0) -> None:
    """One update at the warm-up-scaled rate, gradients clipped."""
    set_learning_rate(optimizer, lr * min(1.0, (step + 1) / max(1, warmup)))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    optimizer.step()
