"""Supervised fine-tuning on chat-formatted pairs, the loss on reply tokens only, after pruning the
easy examples (prune.py)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.posttrain.batching import IGNORE, collate
from sonar.posttrain.chat import check_fits, encode_pair
from sonar.posttrain.optim import build_adamw, warmup_step
from sonar.posttrain.prune import check_prune, keep_mask
from sonar.posttrain.settings import MAX_ROWS, require_at_least_one, require_lr, require_seed, require_warmup


@dataclass(kw_only=True, frozen=True)
class SFTConfig:
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 20
    prune: str = "none"  # none | solved | loss
    prune_quantile: float = 0.5  # with prune="loss": drop examples whose loss is below this quantile
    seed: int = 0

    def __post_init__(self) -> None:
        check_types(self, finite=False)  # the require_* rules below name a non-finite value
        require_at_least_one(self, "steps")
        require_at_least_one(self, "batch_size", most=MAX_ROWS)
        require_seed(self)
        require_lr(self)
        require_warmup(self)
        check_prune(self.prune, self.prune_quantile)


def masked_loss(model, inputs_BT: torch.Tensor, targets_BT: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the reply tokens of the batch (prompt and padding are IGNORE)."""
    logits_BTV = model(inputs_BT).logits
    return F.cross_entropy(logits_BTV.reshape(-1, logits_BTV.shape[-1]).float(), targets_BT.reshape(-1),
                           ignore_index=IGNORE)


def batch_indices(n: int, step: int, batch_size: int, seed: int) -> list[int]:
    """Rows of update `step`: epochs of seeded permutations, so a batch is a pure function of the step."""
    out = []
    position = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(position, n)
        order = list(range(n))
        random.Random(f"{seed}/epoch/{epoch}").shuffle(order)
        take = order[offset: offset + batch_size - len(out)]
        out.extend(take)
        position += len(take)
    return out


def run_sft(model, prompts: list[str], responses: list[str], config: SFTConfig) -> dict:
    """Prune, then train `model` in place; return the record (share pruned, losses, seconds)."""
    if not prompts:
        raise UserError("SFT needs at least one (prompt, response) pair")
    start = time.perf_counter()
    encoded = [encode_pair(p, r) for p, r in zip(prompts, responses, strict=True)]
    check_fits(encoded, model.config.max_position_embeddings)
    keep = keep_mask(model, prompts, responses, mode=config.prune, quantile=config.prune_quantile)
    kept = [e for e, k in zip(encoded, keep, strict=True) if k]
    if not kept:
        raise UserError(f"prune={config.prune!r} removed every example: the model already solves them all")
    torch.manual_seed(config.seed)
    optimizer = build_adamw(model, config.lr)
    model.train()
    losses = []
    for step in range(config.steps):
        rows = [kept[i] for i in batch_indices(len(kept), step, config.batch_size, config.seed)]
        loss = masked_loss(model, *collate(rows))
        warmup_step(optimizer, loss, model, step=step, lr=config.lr, warmup=config.warmup,
                    check_weights=step == config.steps - 1)
        losses.append(float(loss.detach()))
    return {"examples": len(prompts), "kept": len(kept), "pruned_share": 1 - len(kept) / len(prompts),
            "prune": config.prune, "losses": losses, "seconds": time.perf_counter() - start}
