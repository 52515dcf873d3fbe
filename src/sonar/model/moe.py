"""Llama 4 mixture of experts: sigmoid-scored top-k routing, input-scaled routed experts, shared expert.

Legend: T tokens, D model dim, F expert hidden dim, E experts, A selected experts per token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sonar.model.ffn import SwiGLU
from sonar.model.moe_dispatch import DEFAULT_MOE_DISPATCH, MOE_DISPATCHES


class RoutedExperts(nn.Module):
    """Stacked expert weights in transformers' layout: gate_up [E, D, 2F] (gate first), down [E, F, D]."""

    def __init__(self, n_experts: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_up_proj = nn.Parameter(torch.empty(n_experts, dim, 2 * hidden))
        self.down_proj = nn.Parameter(torch.empty(n_experts, hidden, dim))


class MoE(nn.Module):
    def __init__(self, *, dim: int, hidden: int, n_experts: int, top_k: int) -> None:
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(dim, n_experts, bias=False)
        self.experts = RoutedExperts(n_experts, dim, hidden)
        self.shared_expert = SwiGLU(dim, hidden)
        self.dispatch_name = DEFAULT_MOE_DISPATCH  # swapped from outside by sonar.systems

    def route(self, x_TD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top-k over raw logits, then sigmoid (in fp32) of the selected logits only; no renormalisation."""
        logits_TE = self.router(x_TD)
        top_logits_TA, experts_TA = torch.topk(logits_TE, self.top_k, dim=-1)
        scores_TA = torch.sigmoid(top_logits_TA.float()).to(x_TD.dtype)
        return experts_TA, scores_TA, logits_TE

    def forward(self, x_BTD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, D = x_BTD.shape
        x_TD = x_BTD.reshape(B * T, D)
        experts_TA, scores_TA, logits_TE = self.route(x_TD)
        dispatch = MOE_DISPATCHES[self.dispatch_name]
        routed_TD = dispatch(x_TD, experts_TA, scores_TA, self.experts.gate_up_proj, self.experts.down_proj)
        out_TD = self.shared_expert(x_TD) + routed_TD
        return out_TD.view(B, T, D), logits_TE


def load_balancing_loss(router_logits: list[torch.Tensor], top_k: int) -> torch.Tensor:
    """Switch-style auxiliary loss E * sum_e(fraction routed to e * mean router probability of e),
    averaged over MoE layers; 1.0 when routing is perfectly balanced."""
    losses = []
    for logits_TE in router_logits:
        E = logits_TE.shape[-1]
        probs_TE = F.softmax(logits_TE.float(), dim=-1)
        chosen_TA = torch.topk(logits_TE, top_k, dim=-1).indices
        routed_TE = torch.zeros_like(probs_TE).scatter_(1, chosen_TA, 1.0)
        fraction_E = routed_TE.mean(0) / top_k
        losses.append(E * (fraction_E * probs_TE.mean(0)).sum())
    return torch.stack(losses).mean()
