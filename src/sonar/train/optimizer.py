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


def _kernel_choice(device: torch.device) -> dict:
    """On CUDA the fused AdamW (one kernel for all parameters), elsewhere the multi-tensor one."""
    return {"fused": True, "foreach": None} if device.type == "cuda" else {"fused": None, "foreach": True}


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """Build it after the model is on its device."""
    choice = _kernel_choice(next(model.parameters()).device)
    # lr is overwritten before every step from the schedule; the initial value is never used.
    return torch.optim.AdamW(
        parameter_groups(model, config.weight_decay), lr=config.lr, betas=(config.beta1, config.beta2),
        eps=config.eps, **choice,
    )


def restore_optimizer(optimizer: torch.optim.Optimizer, state_dict: dict) -> None:
    """Load a saved optimizer state onto this optimizer's device. Loading takes the saved groups'
    options, the kernel choice among them, so a checkpoint from another device would bring that
    device's choice: keep this device's, and the step counters where its kernel wants them (on the
    GPU for the fused kernel, on the CPU otherwise). The moments follow the parameters on loading."""
    device = next(p.device for group in optimizer.param_groups for p in group["params"])
    optimizer.load_state_dict(state_dict)
    choice = _kernel_choice(device)
    for group in optimizer.param_groups:
        group.update(choice)
    for param, state in optimizer.state.items():
        if torch.is_tensor(state.get("step")):
            state["step"] = state["step"].to(param.device if choice["fused"] else "cpu", torch.float32)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def weights_finite(model: torch.nn.Module) -> bool:
    """Every floating-point weight of `model` is finite (a run that diverged leaves NaN or inf behind)."""
    flags = [torch.isfinite(p).all() for p in model.parameters() if p.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True
