"""Weight-only formats for one [N, K] weight (stored [out, in], as x @ W.T wants) and the matmul for each.

Legend: M rows of activations, K input features, N output features, G groups of K per int4 scale.
Low-precision matmuls take bf16 activations (the vectorized path of torch's CPU kernels) and the
result is cast back to the caller's dtype, so the residual stream keeps its precision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0
INT4_INNER_K_TILES = 2


def quantize_int8(w_NK: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: w ~ q * scale."""
    scale_N = (w_NK.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
    q_NK = torch.round(w_NK / scale_N[:, None]).clamp(-127, 127).to(torch.int8)
    return q_NK, scale_N


def quantize_fp8(w_NK: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row scaled e4m3: the row's absmax maps to the largest finite e4m3 value."""
    scale_N = (w_NK.abs().amax(dim=1) / FP8_MAX).clamp(min=1e-12)
    return (w_NK / scale_N[:, None]).to(FP8), scale_N


def quantize_int4(w_NK: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Asymmetric int4 in groups along K; returns codes in 0..15 [N,K] and scales_and_zeros
    [G,N,2] in the convention of torch's CPU kernel, which dequantizes (q - 8) * scale + zero."""
    N, K = w_NK.shape
    w_NGk = w_NK.reshape(N, K // group_size, group_size)
    low_NG, high_NG = w_NGk.amin(dim=-1), w_NGk.amax(dim=-1)
    scale_NG = ((high_NG - low_NG) / 15.0).clamp(min=1e-12)
    q_NGk = torch.round((w_NGk - low_NG[..., None]) / scale_NG[..., None]).clamp(0, 15)
    zero_NG = low_NG + 8.0 * scale_NG
    scales_zeros_GN2 = torch.stack((scale_NG, zero_NG), dim=-1).transpose(0, 1).contiguous()
    return q_NGk.reshape(N, K).to(torch.int32), scales_zeros_GN2


def dequantize_int4(q_NK: torch.Tensor, scales_zeros_GN2: torch.Tensor, group_size: int) -> torch.Tensor:
    N, K = q_NK.shape
    scale_NG1 = scales_zeros_GN2[..., 0].t()[..., None].float()
    zero_NG1 = scales_zeros_GN2[..., 1].t()[..., None].float()
    w_NGk = (q_NK.reshape(N, K // group_size, group_size).float() - 8.0) * scale_NG1 + zero_NG1
    return w_NGk.reshape(N, K)


def pack(w_NK: torch.Tensor, fmt: str, group_size: int = 128) -> tuple[torch.Tensor, ...]:
    """The tensors that hold [N, K] weight `w_NK` in format `fmt` (the input of weight_matmul)."""
    w_NK = w_NK.detach().float().contiguous()  # the int8/int4 kernels need row-major; a model may store input-major
    if fmt == "fp32":
        return (w_NK.contiguous(),)
    if fmt == "bf16":
        return (w_NK.to(torch.bfloat16).contiguous(),)
    if fmt in ("int8", "int8_dq"):
        q_NK, scale_N = quantize_int8(w_NK)
        return q_NK, scale_N.to(torch.bfloat16)
    if fmt == "fp8":
        q_NK, scale_N = quantize_fp8(w_NK)
        return q_NK, scale_N.to(torch.bfloat16)
    if fmt == "fp8_mm":
        q_NK, scale_N = quantize_fp8(w_NK)
        return q_NK, scale_N[None, :].contiguous()  # [1, N] fp32: _scaled_mm's row-wise scale of W.T
    if fmt == "int4":
        q_NK, scales_zeros_GN2 = quantize_int4(w_NK, group_size)
        return (torch._convert_weight_to_int4pack_for_cpu(q_NK, INT4_INNER_K_TILES),
                scales_zeros_GN2.to(torch.bfloat16))
    raise ValueError(f"unknown weight format {fmt!r}")


def weight_matmul(fmt: str, x_MK: torch.Tensor, tensors: tuple[torch.Tensor, ...], group_size: int = 128):
    """x @ W.T for a weight held as `pack` returned it; any leading dims on x; result in x's dtype."""
    if fmt == "fp32":
        return F.linear(x_MK, tensors[0].to(x_MK.dtype))
    x_bf = x_MK.to(torch.bfloat16)
    if fmt == "bf16":
        y = F.linear(x_bf, tensors[0])
    elif fmt == "int8":
        q_NK, scale_N = tensors
        y = torch._weight_int8pack_mm(x_bf.reshape(-1, x_bf.shape[-1]), q_NK, scale_N)
        y = y.view(*x_bf.shape[:-1], q_NK.shape[0])
    elif fmt in ("int8_dq", "fp8"):
        # Written as gpt-fast does, so Inductor's pattern pass can turn int8 into _weight_int8pack_mm.
        q_NK, scale_N = tensors
        y = F.linear(x_bf, q_NK.to(torch.bfloat16)) * scale_N
    elif fmt == "fp8_mm":
        y = fp8_scaled_matmul(x_bf, *tensors)
    elif fmt == "int4":
        packed, scales_zeros_GN2 = tensors
        N = scales_zeros_GN2.shape[1]
        y = torch._weight_int4pack_mm_for_cpu(x_bf.reshape(-1, x_bf.shape[-1]), packed, group_size, scales_zeros_GN2)
        y = y.view(*x_bf.shape[:-1], N)
    else:
        raise ValueError(f"unknown weight format {fmt!r}")
    return y.to(x_MK.dtype)


def fp8_scaled_matmul(x_MK: torch.Tensor, q_NK: torch.Tensor, scale_1N: torch.Tensor) -> torch.Tensor:
    """x @ W.T as one fp8 GEMM: each activation row is quantized to e4m3 with its own scale (absmax
    to the largest finite e4m3), the weight is e4m3 per output row, and torch._scaled_mm applies both
    scales to the fp32 accumulator and writes bf16."""
    x2_MK = x_MK.reshape(-1, x_MK.shape[-1]).float()
    scale_M1 = (x2_MK.abs().amax(dim=1, keepdim=True) / FP8_MAX).clamp(min=1e-12)
    xq_MK = (x2_MK / scale_M1).to(FP8)
    y = torch._scaled_mm(xq_MK, q_NK.t(), scale_a=scale_M1, scale_b=scale_1N, out_dtype=torch.bfloat16)
    return y.view(*x_MK.shape[:-1], q_NK.shape[0])


_TENSOR_NAMES = ("t0", "t1")


class FormattedLinear(nn.Module):
    """A bias-free nn.Linear replacement holding its [out, in] weight in one format."""

    def __init__(self, linear: nn.Linear, fmt: str, *, group_size: int = 128) -> None:
        super().__init__()
        if linear.bias is not None:
            raise ValueError("FormattedLinear handles bias-free linears only (Llama 4 has no biases)")
        self.fmt, self.group_size = fmt, group_size
        self.out_features, self.in_features = linear.weight.shape
        tensors = pack(linear.weight, fmt, group_size)
        self.n_tensors = len(tensors)
        for name, t in zip(_TENSOR_NAMES, tensors, strict=False):
            self.register_buffer(name, t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensors = (self.t0,) if self.n_tensors == 1 else (self.t0, self.t1)
        return weight_matmul(self.fmt, x, tensors, self.group_size)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, fmt={self.fmt}"
