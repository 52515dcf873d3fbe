"""Ways to run routed experts, all computing the same function (chosen from outside by sonar.systems).

Legend: T tokens, D model dim, F expert hidden dim, E experts, A selected experts per token (top-k).
Each dispatch takes x [T,D], the selected experts [T,A] with their scores [T,A], and the stacked
expert weights gate_up [E,D,2F] and down [E,F,D]; it returns the routed sum [T,D]. The input is
scaled by the score before the expert (Llama 4 routes x*score, not score*expert(x)).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def _swiglu_experts(x_ND: torch.Tensor, gate_up_DG: torch.Tensor, down_FD: torch.Tensor) -> torch.Tensor:
    gate_NF, up_NF = torch.matmul(x_ND, gate_up_DG).chunk(2, dim=-1)
    return torch.matmul(up_NF * F.silu(gate_NF), down_FD)


def dense(x_TD, experts_TA, scores_TA, gate_up_EDG, down_EFD) -> torch.Tensor:
    """Every expert on every token with zero weight where unselected, as transformers computes it."""
    E = gate_up_EDG.shape[0]
    scores_TE = torch.zeros(x_TD.shape[0], E, dtype=x_TD.dtype, device=x_TD.device)
    scores_TE.scatter_(1, experts_TA, scores_TA)
    x_ETD = x_TD[None] * scores_TE.t()[:, :, None]
    return _swiglu_experts(x_ETD, gate_up_EDG, down_EFD).sum(dim=0)


def grouped(x_TD, experts_TA, scores_TA, gate_up_EDG, down_EFD) -> torch.Tensor:
    """Sort token slots by expert and run each expert once on its own tokens (one host sync).
    The weights are unbound once rather than indexed per expert: indexing w[e] makes the backward
    build a full-size zero gradient for every expert, unbind's backward stacks them once.
    One token without autograd (a batch-1 decode step) takes `_one_token` instead: the same numbers."""
    T, A = experts_TA.shape
    if T == 1 and not (torch.is_grad_enabled() and (x_TD.requires_grad or gate_up_EDG.requires_grad)):
        return _one_token(x_TD, experts_TA, scores_TA, gate_up_EDG, down_EFD)
    E = gate_up_EDG.shape[0]
    flat_expert_N = experts_TA.reshape(-1)
    order_N = torch.argsort(flat_expert_N, stable=True)
    token_N = order_N // A
    x_ND = x_TD[token_N] * scores_TA.reshape(-1)[order_N, None]
    counts = torch.bincount(flat_expert_N, minlength=E).tolist()
    groups = zip(x_ND.split(counts), gate_up_EDG.unbind(0), down_EFD.unbind(0), counts, strict=True)
    outputs = [_swiglu_experts(x_nD, gate_up_DG, down_FD) for x_nD, gate_up_DG, down_FD, n in groups if n]
    y_ND = torch.cat(outputs)
    return torch.zeros_like(x_TD, dtype=y_ND.dtype).index_add_(0, token_N, y_ND)  # bf16 under autocast


def gathers_more_than_the_bank(slots: int, experts: int) -> bool:
    """Whether gathering one weight copy per token slot would copy more than every expert once: a
    128-token prompt through gather took 22-25x as long as grouped on tiny and small (eager, one thread).
    Shapes only, so a compiled graph takes one branch and keeps it."""
    return slots > experts


def _one_token(x_1D, experts_1A, scores_1A, gate_up_EDG, down_EFD) -> torch.Tensor:
    """The grouped dispatch for one token, without its sort, split, unbind of all E experts and
    scatter: a decode step at batch 1 is a dozen small ops per MoE layer shorter, and each small op
    costs a thread-pool barrier on CPU. The selected experts are summed in ascending order from zero,
    as grouped's index_add does, so the result is bit-identical."""
    pairs = sorted(zip(experts_1A[0].tolist(), range(experts_1A.shape[1]), strict=True))
    y_1D = None
    for expert, slot in pairs:
        out_1D = _swiglu_experts(x_1D * scores_1A[:, slot:slot + 1], gate_up_EDG[expert], down_EFD[expert])
        y_1D = out_1D if y_1D is None else y_1D + out_1D
    return y_1D


def gather(x_TD, experts_TA, scores_TA, gate_up_EDG, down_EFD) -> torch.Tensor:
    """Gather each token's expert weights and batch-multiply: no host sync, so it compiles whole;
    reads only the selected experts, which suits decode (few tokens), not prefill. With more token
    slots than experts (a prompt), the copies would outweigh the whole bank, so it runs grouped."""
    T, A = experts_TA.shape
    if gathers_more_than_the_bank(T * A, gate_up_EDG.shape[0]):
        return grouped(x_TD, experts_TA, scores_TA, gate_up_EDG, down_EFD)
    flat_expert_N = experts_TA.reshape(-1)
    x_N1D = (x_TD.repeat_interleave(A, dim=0) * scores_TA.reshape(-1, 1))[:, None, :]
    y_N1D = _swiglu_experts(x_N1D, gate_up_EDG[flat_expert_N], down_EFD[flat_expert_N])
    return y_N1D.view(T, A, -1).sum(dim=1)


Dispatch = Callable[..., torch.Tensor]

MOE_DISPATCHES: dict[str, Dispatch] = {"dense": dense, "grouped": grouped, "gather": gather}
DEFAULT_MOE_DISPATCH = "grouped"
