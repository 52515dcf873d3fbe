"""Distillation on the teacher's logits, the small analogue of Llama 4's co-distillation from Behemoth:
on the reply tokens, (1 - ce_weight) * T^2 * KL(teacher_T || student_T) + ce_weight * cross-entropy.

Legend: B rows, T positions, V vocabulary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.posttrain.batching import IGNORE, collate
from sonar.posttrain.chat import check_fits, encode_pair
from sonar.posttrain.optim import build_adamw, warmup_step
from sonar.posttrain.settings import (
    MAX_ROWS,
    require_at_least_one,
    require_lr,
    require_seed,
    require_temperature,
    require_warmup,
)
from sonar.posttrain.sft import batch_indices


@dataclass(kw_only=True, frozen=True)
class DistillConfig:
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 20
    temperature: float = 2.0
    ce_weight: float = 0.5  # share of the plain cross-entropy on the reference reply
    seed: int = 0

    def __post_init__(self) -> None:
        check_types(self, finite=False)  # the require_* rules below name a non-finite value
        require_at_least_one(self, "steps")
        require_at_least_one(self, "batch_size", most=MAX_ROWS)
        require_seed(self)
        require_lr(self)
        require_temperature(self)
        require_warmup(self)
        if not 0 <= self.ce_weight <= 1:
            raise UserError(f"ce_weight={self.ce_weight}: must be in [0, 1]")


def distill_loss(student_BTV: torch.Tensor, teacher_BTV: torch.Tensor, targets_BT: torch.Tensor, *,
                 temperature: float, ce_weight: float) -> torch.Tensor:
    """Mean over reply positions; zero KL when the student's logits equal the teacher's."""
    mask = targets_BT != IGNORE
    student_NV, teacher_NV = student_BTV[mask].float(), teacher_BTV[mask].float()
    ce = F.cross_entropy(student_NV, targets_BT[mask])
    return (1 - ce_weight) * teacher_kl(student_NV, teacher_NV, temperature=temperature) + ce_weight * ce


def teacher_kl(student_NV: torch.Tensor, teacher_NV: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """T^2 * KL(teacher_T || student_T), mean over the N positions: the T^2 keeps its gradient's scale
    independent of T. Also the teacher term of pre-training (train/step.py)."""
    return F.kl_div(F.log_softmax(student_NV.float() / temperature, -1),
                    F.log_softmax(teacher_NV.float() / temperature, -1),
                    log_target=True, reduction="batchmean") * temperature**2


def run_distill(student, teacher, prompts: list[str], responses: list[str], config: DistillConfig) -> dict:
    if student.config.vocab_size != teacher.config.vocab_size:
        raise UserError(f"student vocab_size={student.config.vocab_size} differs from the teacher's "
                        f"{teacher.config.vocab_size}: distillation compares their logits token by token")
    if not prompts:
        raise UserError("distillation needs at least one (prompt, response) pair")
    start = time.perf_counter()
    examples = [encode_pair(p, r) for p, r in zip(prompts, responses, strict=True)]
    check_fits(examples, min(student.config.max_position_embeddings, teacher.config.max_position_embeddings))
    torch.manual_seed(config.seed)
    optimizer = build_adamw(student, config.lr)
    teacher.eval()
    student.train()
    losses = []
    for step in range(config.steps):
        rows = [examples[i] for i in batch_indices(len(examples), step, config.batch_size, config.seed)]
        inputs_BT, targets_BT = collate(rows)
        with torch.no_grad():
            teacher_BTV = teacher(inputs_BT).logits
        loss = distill_loss(student(inputs_BT).logits, teacher_BTV, targets_BT, temperature=config.temperature,
                            ce_weight=config.ce_weight)
        warmup_step(optimizer, loss, student, step=step, lr=config.lr, warmup=config.warmup,
                    check_weights=step == config.steps - 1)
        losses.append(float(loss.detach()))
    return {"examples": len(examples), "losses": losses, "seconds": time.perf_counter() - start}
