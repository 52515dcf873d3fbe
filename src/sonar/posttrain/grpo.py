"""The GRPO pieces, each a pure function: group-relative advantages, the adaptive prompt filter, and the
clipped policy-gradient loss with a KL penalty to the reference.

Legend: G replies in a group, B rows, T positions.
"""

from __future__ import annotations

import torch

ADVANTAGE_EPS = 1e-4


def group_advantages(rewards_G: torch.Tensor) -> torch.Tensor:
    """(r - mean) / (std + eps) within one prompt's group: a group whose rewards are all equal carries no
    signal, so every advantage in it is exactly zero."""
    rewards_G = rewards_G.float()
    centred_G = rewards_G - rewards_G.mean()
    if bool((centred_G == 0).all()):
        return torch.zeros_like(rewards_G)
    return centred_G / (rewards_G.std() + ADVANTAGE_EPS)


def keep_prompt(rewards_G: torch.Tensor) -> bool:
    """The adaptive filter: keep a prompt only if the policy sometimes, but not always, solves it."""
    success = float(rewards_G.float().mean())
    return 0.0 < success < 1.0


def kl_per_token(logp_BT: torch.Tensor, ref_logp_BT: torch.Tensor) -> torch.Tensor:
    """The non-negative, unbiased estimator of KL(policy || reference) at each sampled token:
    exp(ref - logp) - (ref - logp) - 1."""
    delta_BT = ref_logp_BT - logp_BT
    return torch.exp(delta_BT) - delta_BT - 1


def grpo_loss(logp_BT: torch.Tensor, old_logp_BT: torch.Tensor, ref_logp_BT: torch.Tensor, advantages_B: torch.Tensor,
              mask_BT: torch.Tensor, *, kl_coef: float, clip: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, mean KL): per row, the token mean of -min(ratio * A, clip(ratio) * A) + kl_coef * KL, then the
    mean over rows. With one update per batch the ratio is 1 and this is the plain policy gradient."""
    mask_BT = mask_BT.float()
    ratio_BT = torch.exp(logp_BT - old_logp_BT)
    a_B1 = advantages_B[:, None]
    surrogate_BT = torch.minimum(ratio_BT * a_B1, ratio_BT.clamp(1 - clip, 1 + clip) * a_B1)
    kl_BT = kl_per_token(logp_BT, ref_logp_BT)
    per_token_BT = -surrogate_BT + kl_coef * kl_BT
    tokens_B = mask_BT.sum(1).clamp(min=1)
    loss = ((per_token_BT * mask_BT).sum(1) / tokens_B).mean()
    kl = ((kl_BT * mask_BT).sum(1) / tokens_B).mean()
    return loss, kl.detach()
