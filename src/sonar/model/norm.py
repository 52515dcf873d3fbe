"""RMS normalization as Llama 4 computes it: in fp32, cast back to the input dtype before the weight."""

from __future__ import annotations

import torch
from torch import nn


def rms_normalize(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Weightless RMS norm over the last dim in fp32, returned in x's dtype (also Llama 4's QK-norm)."""
    x_f32 = x.float()
    return (x_f32 * torch.rsqrt(x_f32.pow(2).mean(-1, keepdim=True) + eps)).type_as(x)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The cast back happens before the weight multiply, as in the reference.
        return rms_normalize(x, self.eps) * self.weight
