"""AdamW with weight decay on matrices only: norms' gains (1-D) are left undecayed."""

from __future__ import annotations

import torch

from sonar.train.config import TrainConfig


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """Build it after the model is on its device: on CUDA the fused AdamW (one kernel for all
    parameters), elsewhere the multi-tensor one."""
    fused = next(model.parameters()).device.type == "cuda"
    # lr is overwritten before every step from the schedule; the initial value is never used.
    return torch.optim.AdamW(
        parameter_groups(model, config.weight_decay), lr=config.lr, betas=(config.beta1, config.beta2),
        eps=config.eps, **({"fused": True} if fused else {"foreach": True}),
    )


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
