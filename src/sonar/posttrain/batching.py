"""Chat examples as padded batches with the loss mask on the reply only.

Legend: B rows, T positions (inputs are ids[:-1], targets ids[1:]).
"""

from __future__ import annotations

import torch

from sonar.posttrain.chat import EOT, ChatExample

IGNORE = -100  # target id cross-entropy skips


def collate(examples: list[ChatExample]) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs_BT, targets_BT): targets are IGNORE except where the next token belongs to the reply.
    Rows are right-padded (causal attention never lets a real position see the padding)."""
    T = max(len(e.ids) for e in examples) - 1
    inputs_BT = torch.full((len(examples), T), EOT, dtype=torch.long)
    targets_BT = torch.full((len(examples), T), IGNORE, dtype=torch.long)
    for row, e in enumerate(examples):
        ids = torch.tensor(e.ids, dtype=torch.long)
        inputs_BT[row, : len(ids) - 1] = ids[:-1]
        # Position p predicts ids[p+1]: the reply's first token is predicted at response_start - 1.
        targets_BT[row, e.response_start - 1: len(ids) - 1] = ids[e.response_start:]
    return inputs_BT, targets_BT


def token_logprobs(model, inputs_BT: torch.Tensor, targets_BT: torch.Tensor) -> torch.Tensor:
    """log p(target) at every position [B, T], 0 where the target is IGNORE."""
    logits_BTV = model(inputs_BT).logits.float()
    mask_BT = targets_BT != IGNORE
    picked_BT = torch.gather(torch.log_softmax(logits_BTV, dim=-1), 2, targets_BT.clamp(min=0)[..., None])[..., 0]
    return picked_BT * mask_BT


def sequence_logprobs(model, inputs_BT: torch.Tensor, targets_BT: torch.Tensor) -> torch.Tensor:
    """Summed log-probability of each row's reply [B]."""
    return token_logprobs(model, inputs_BT, targets_BT).sum(dim=1)
