"""One optimizer update, and the validation loss: the two computations a training run repeats.

Legend: B batch rows, T tokens per row, V vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sonar.model.moe import load_balancing_loss
from sonar.train.config import TrainConfig
from sonar.train.device import autocast, to_device
from sonar.train.optimizer import set_learning_rate
from sonar.train.schedule import learning_rate


def apply_kernels(model: torch.nn.Module, config: TrainConfig) -> None:
    """Kernel choice is made from outside the model, by name (see the model's registries)."""
    for block in model.layers:
        block.attn.kernel_name = config.attention_kernel
        if hasattr(block.ffn, "dispatch_name"):
            block.ffn.dispatch_name = config.moe_dispatch


def has_moe(model: torch.nn.Module) -> bool:
    return any(block.plan.is_moe for block in model.layers)


def train_step(model, optimizer, inputs_BT: torch.Tensor, targets_BT: torch.Tensor, *, step: int,
               config: TrainConfig, teacher: torch.nn.Module | None = None) -> tuple[float, list[torch.Tensor]]:
    """Run update number `step`; return its cross-entropy (nats/token) and the router logits. With a
    teacher (config.teacher loaded, in eval mode), the loss mixes in the KL to its logits."""
    set_learning_rate(optimizer, learning_rate(step, config))
    moe = has_moe(model)
    with autocast(config.precision, inputs_BT.device):
        out = model(inputs_BT, output_router_logits=moe)
        if teacher is not None:
            with torch.no_grad():
                teacher_BTV = teacher(inputs_BT).logits
    logits_BTV = out.logits
    ce = F.cross_entropy(logits_BTV.reshape(-1, logits_BTV.shape[-1]).float(), targets_BT.reshape(-1))
    loss = ce
    if teacher is not None:
        from sonar.posttrain.distill import teacher_kl  # here, not above: posttrain imports sonar.train

        vocab = logits_BTV.shape[-1]
        kl = teacher_kl(logits_BTV.reshape(-1, vocab), teacher_BTV.reshape(-1, vocab),
                        temperature=config.distill_temperature)
        loss = (1 - config.distill_weight) * ce + config.distill_weight * kl
    if moe and config.load_balance_coef > 0:
        router_logits = [t.float() for t in out.router_logits]
        balance = load_balancing_loss(router_logits, model.config.num_experts_per_tok)
        loss = loss + config.load_balance_coef * balance
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip, foreach=True)
    optimizer.step()
    return float(ce.detach()), [t.detach() for t in out.router_logits]


@torch.no_grad()
def evaluate(model, rows_NT1: torch.Tensor, batch_size: int, precision: str | None = None) -> float:
    """Mean cross-entropy (nats/token) over fixed windows [N, T+1], computed on the model's device."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, rows_NT1.shape[0], batch_size):
        rows = to_device(rows_NT1[start:start + batch_size], device)
        with autocast(precision, device):
            logits_BTV = model(rows[:, :-1]).logits
        loss = F.cross_entropy(logits_BTV.reshape(-1, logits_BTV.shape[-1]).float(), rows[:, 1:].reshape(-1),
                               reduction="sum")
        total += float(loss)
        count += rows[:, 1:].numel()
    return total / count
