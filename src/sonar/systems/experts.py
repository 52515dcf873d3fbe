"""Routed experts re-laid out as [E, N, K] (x @ W.T per expert) in any weight format, and the MoE
dispatches that read that layout, registered into sonar.model's dispatch registry.

Legend: T tokens, D model dim, F expert hidden dim, E experts, A selected experts per token,
N token slots (T*A) or output features, K input features.
The model stores gate_up [E, D, 2F] and down [E, F, D] for x @ W; bf16 and the quantized CPU
kernels want the weight [out, in], so the bank transposes each expert once, at transform time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sonar.model.moe_dispatch import MOE_DISPATCHES, gathers_more_than_the_bank
from sonar.systems.quant import pack, weight_matmul


class ExpertBank(nn.Module):
    """E weights of one projection, each [N, K], packed in `fmt` and stacked along a leading E."""

    def __init__(self, w_EKN: torch.Tensor, fmt: str, *, group_size: int = 128) -> None:
        super().__init__()
        self.fmt, self.group_size = fmt, group_size
        self.n_experts, self.in_features, self.out_features = w_EKN.shape
        per_expert = [pack(w_EKN[e].t(), fmt, group_size) for e in range(self.n_experts)]
        self.n_tensors = len(per_expert[0])
        for i in range(self.n_tensors):
            self.register_buffer(f"t{i}", torch.stack([p[i] for p in per_expert]).contiguous())

    def _tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.t0,) if self.n_tensors == 1 else (self.t0, self.t1)

    def matmul(self, e: int, x_MK: torch.Tensor) -> torch.Tensor:
        """x @ W_e.T with expert `e` chosen by a Python int (a view, no copy)."""
        return weight_matmul(self.fmt, x_MK, tuple(t[e] for t in self._tensors()), self.group_size)

    def gathered_matmul(self, expert_N: torch.Tensor, x_N1K: torch.Tensor) -> torch.Tensor:
        """Row n times its own expert's weight: [N,1,K] -> [N,1,N_out]; no host sync (compiles whole)."""
        if self.fmt == "int4":
            raise ValueError("int4 experts have no gathered matmul (the packed tiles are per expert)")
        if self.fmt == "fp32":
            return torch.matmul(x_N1K, self.t0[expert_N].transpose(1, 2))
        x_bf = x_N1K.to(torch.bfloat16)
        w_NOK = self.t0[expert_N].to(torch.bfloat16)
        if self.n_tensors == 2:
            # Scale the weight, not the product: Inductor (torch 2.13) fails an assertion while
            # lowering a gathered batched matmul followed by a per-channel scale of its output.
            w_NOK = w_NOK * self.t1[expert_N][:, :, None]
        return torch.matmul(x_bf, w_NOK.transpose(1, 2)).to(x_N1K.dtype)

    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self.buffers())


class PackedExperts(nn.Module):
    """Drop-in for RoutedExperts: MoE.forward hands `gate_up_proj` and `down_proj` to the dispatch,
    which here receives the two banks instead of the raw [E, D, 2F] / [E, F, D] parameters."""

    def __init__(self, gate_up_EDG: torch.Tensor, down_EFD: torch.Tensor, fmt: str, *, group_size: int) -> None:
        super().__init__()
        self.gate_up_proj = ExpertBank(gate_up_EDG, fmt, group_size=group_size)
        self.down_proj = ExpertBank(down_EFD, fmt, group_size=group_size)


def packed_grouped(x_TD, experts_TA, scores_TA, gate_up: ExpertBank, down: ExpertBank) -> torch.Tensor:
    """Sort token slots by expert, run each chosen expert once on its rows (one host sync)."""
    T, A = experts_TA.shape
    flat_expert_N = experts_TA.reshape(-1)
    order_N = torch.argsort(flat_expert_N, stable=True)
    token_N = order_N // A
    x_ND = x_TD[token_N] * scores_TA.reshape(-1)[order_N, None]
    counts = torch.bincount(flat_expert_N, minlength=gate_up.n_experts).tolist()
    outputs, start = [], 0
    for e, n in enumerate(counts):
        if n:
            gate_NF, up_NF = gate_up.matmul(e, x_ND[start:start + n]).chunk(2, dim=-1)
            outputs.append(down.matmul(e, up_NF * F.silu(gate_NF)))
            start += n
    return torch.zeros_like(x_TD).index_add_(0, token_N, torch.cat(outputs))


def packed_gather(x_TD, experts_TA, scores_TA, gate_up: ExpertBank, down: ExpertBank) -> torch.Tensor:
    """Gather each slot's expert weights and batch-multiply: no host sync; suits decode. With more
    token slots than experts (a prompt) it runs as packed_grouped, as moe_dispatch.gather does."""
    T, A = experts_TA.shape
    if gathers_more_than_the_bank(T * A, gate_up.n_experts):
        return packed_grouped(x_TD, experts_TA, scores_TA, gate_up, down)
    flat_expert_N = experts_TA.reshape(-1)
    x_N1D = (x_TD.repeat_interleave(A, dim=0) * scores_TA.reshape(-1, 1))[:, None, :]
    gate_N1F, up_N1F = gate_up.gathered_matmul(flat_expert_N, x_N1D).chunk(2, dim=-1)
    y_N1D = down.gathered_matmul(flat_expert_N, up_N1F * F.silu(gate_N1F))
    return y_N1D.view(T, A, -1).sum(dim=1)


PACKED_DISPATCHES = {"packed_grouped": packed_grouped, "packed_gather": packed_gather}
MOE_DISPATCHES.update(PACKED_DISPATCHES)


def packed_grouped_mm(x_TD, experts_TA, scores_TA, gate_up: ExpertBank, down: ExpertBank) -> torch.Tensor:
    """Each projection as one grouped GEMM over every expert (torch._grouped_mm, bf16 banks): slots
    sorted by expert form contiguous groups whose end offsets stay on the device, so there is neither
    a launch per expert nor a host sync, and the dispatch compiles whole."""
    T, A = experts_TA.shape
    flat_expert_N = experts_TA.reshape(-1)
    order_N = torch.argsort(flat_expert_N, stable=True)
    token_N = order_N // A
    x_ND = (x_TD[token_N] * scores_TA.reshape(-1)[order_N, None]).to(torch.bfloat16)
    experts_E = torch.arange(gate_up.n_experts, device=x_TD.device)
    ends_E = torch.searchsorted(flat_expert_N[order_N], experts_E, right=True).to(torch.int32)
    # The banks hold each expert [out, in]; the grouped GEMM multiplies by [in, out], a transposed view.
    gate_NF, up_NF = torch._grouped_mm(x_ND, gate_up.t0.transpose(1, 2), offs=ends_E).chunk(2, dim=-1)
    y_ND = torch._grouped_mm(up_NF * F.silu(gate_NF), down.t0.transpose(1, 2), offs=ends_E)
    return torch.zeros_like(x_TD).index_add_(0, token_N, y_ND.to(x_TD.dtype))


GROUPED_GEMM_DISPATCHES = {"packed_grouped_mm": packed_grouped_mm}
MOE_DISPATCHES.update(GROUPED_GEMM_DISPATCHES)
