"""Pruning easy SFT examples before training, the small analogue of Llama 4 dropping the easy half of
its SFT data: either those the model already answers correctly, or those whose reply loss is below a
quantile of all the examples' losses."""

from __future__ import annotations

import torch

from sonar.errors import UserError
from sonar.posttrain.batching import IGNORE, collate, token_logprobs
from sonar.posttrain.chat import encode_pair
from sonar.posttrain.replies import greedy_replies, max_reply_tokens

PRUNE_MODES = ("none", "solved", "loss")


def check_prune(mode: str, quantile: float) -> None:
    if mode not in PRUNE_MODES:
        raise UserError(f"prune={mode!r}: choose one of {PRUNE_MODES}")
    if not 0 < quantile < 1:
        raise UserError(f"prune_quantile={quantile}: must be in (0, 1)")


def solved_mask(model, prompts: list[str], responses: list[str]) -> list[bool]:
    """True where the model's greedy reply is already the response (exactly, after stripping)."""
    replies = greedy_replies(model, prompts, max_new_tokens=max_reply_tokens(responses))
    return [r.strip() == want.strip() for r, want in zip(replies, responses, strict=True)]


@torch.no_grad()
def reply_losses(model, prompts: list[str], responses: list[str], batch_size: int = 64) -> torch.Tensor:
    """Mean cross-entropy per reply token of each example [N]."""
    was_training = model.training
    model.eval()
    losses = []
    for start in range(0, len(prompts), batch_size):
        chunk = [encode_pair(p, r) for p, r in zip(prompts[start:start + batch_size],
                                                   responses[start:start + batch_size], strict=True)]
        inputs_BT, targets_BT = collate(chunk)
        logp_BT = token_logprobs(model, inputs_BT, targets_BT)
        losses.append(-logp_BT.sum(1) / (targets_BT != IGNORE).sum(1))
    model.train(was_training)
    return torch.cat(losses)


def keep_mask(model, prompts: list[str], responses: list[str], *, mode: str, quantile: float) -> list[bool]:
    """Which examples SFT keeps (all of them under mode "none")."""
    check_prune(mode, quantile)
    if mode == "none":
        return [True] * len(prompts)
    if mode == "solved":
        return [not s for s in solved_mask(model, prompts, responses)]
    losses = reply_losses(model, prompts, responses)
    threshold = torch.quantile(losses, quantile)
    return (losses >= threshold).tolist()
