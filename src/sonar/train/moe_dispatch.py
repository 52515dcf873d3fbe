"""A training-friendly MoE dispatch, registered from outside the model under "grouped_unbind".

Legend: T tokens, D model dim, F expert hidden dim, E experts, A selected experts per token, N = T*A.

It computes what "grouped" computes. The difference is in the backward pass: indexing the stacked
weights one expert at a time (w[e]) makes autograd build a zero-filled [E, ...] gradient for every
expert and sum them, E full-size fills and adds per layer; unbind(0) has a single backward that
stacks the E expert gradients once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sonar.model.moe_dispatch import MOE_DISPATCHES

NAME = "grouped_unbind"


def grouped_unbind(x_TD, experts_TA, scores_TA, gate_up_EDG, down_EFD) -> torch.Tensor:
    T, A = experts_TA.shape
    E = gate_up_EDG.shape[0]
    flat_expert_N = experts_TA.reshape(-1)
    order_N = torch.argsort(flat_expert_N, stable=True)
    token_N = order_N // A
    x_ND = x_TD[token_N] * scores_TA.reshape(-1)[order_N, None]
    counts = torch.bincount(flat_expert_N, minlength=E).tolist()  # the one host sync
    gate_ups, downs = gate_up_EDG.unbind(0), down_EFD.unbind(0)
    outputs = []
    for x_nD, gate_up_DG, down_FD, n in zip(x_ND.split(counts), gate_ups, downs, counts, strict=True):
        if n:
            gate_nF, up_nF = (x_nD @ gate_up_DG).chunk(2, dim=-1)
            outputs.append((up_nF * F.silu(gate_nF)) @ down_FD)
    y_ND = torch.cat(outputs)
    return torch.zeros_like(x_TD).index_add_(0, token_N, y_ND)


MOE_DISPATCHES.setdefault(NAME, grouped_unbind)
