"""CPU linears whose weight is prepacked once by a vendor library, applied to a built model from outside.

- int8_fbgemm: fbgemm dynamic int8 (torch.ops.quantized.linear_dynamic on the x86 engine). The weight is
  int8 per output channel; each call quantizes its fp32 activations per tensor to uint8 (7-bit range, as
  fbgemm's AVX2 kernel needs to avoid saturating its 16-bit pair sums) and returns fp32. Unlike
  torch._weight_int8pack_mm (the `int8` format) it needs no bf16 cast of the activations.
- fp32_mkldnn: the fp32 weight reordered into oneDNN's blocked layout (torch.ops.mkldnn._reorder_linear_weight)
  and multiplied by torch.ops.mkldnn._linear_pointwise, the kernel Inductor's freezing pass emits.

Both hold an opaque packed weight (a ScriptObject, an mkldnn tensor) that torch.compile cannot trace
through and that has no transformers name, so space.py admits them only eager, on the CPU, outside the
routed experts; the state dict keeps the original [out, in] weight so a transformed model still saves.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn

PREPACKED_FORMATS = ("int8_fbgemm", "fp32_mkldnn")
FBGEMM_ENGINE = "x86"  # fbgemm behind oneDNN-aware dispatch: torch's default engine on x86 CPUs


def fbgemm_available() -> bool:
    return FBGEMM_ENGINE in torch.backends.quantized.supported_engines


def mkldnn_available() -> bool:
    return torch.backends.mkldnn.is_available()


@contextlib.contextmanager
def _quantized_engine(name: str):
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = name
    try:
        yield
    finally:
        torch.backends.quantized.engine = before


class PrepackedLinear(nn.Module):
    """A bias-free nn.Linear replacement whose weight lives in a vendor-packed form."""

    def __init__(self, linear: nn.Linear, fmt: str) -> None:
        super().__init__()
        if linear.bias is not None:
            raise ValueError("PrepackedLinear handles bias-free linears only (Llama 4 has no biases)")
        if fmt not in PREPACKED_FORMATS:
            raise ValueError(f"unknown prepacked format {fmt!r}")
        self.fmt = fmt
        self.out_features, self.in_features = linear.weight.shape
        w_NK = linear.weight.detach().float().contiguous()
        if fmt == "int8_fbgemm":
            scale_N = (w_NK.abs().amax(dim=1) / 127.0).clamp(min=1e-12).double()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # quantized tensor creation is marked deprecated
                q_NK = torch.quantize_per_channel(w_NK, scale_N, torch.zeros_like(scale_N, dtype=torch.long), 0,
                                                  torch.qint8)
            with _quantized_engine(FBGEMM_ENGINE):
                self._packed = torch.ops.quantized.linear_prepack(q_NK, None)
            self.packed_bytes = w_NK.numel() + 4 * w_NK.shape[0]  # int8 codes + fp32 scales (roofline.py)
        else:
            self._packed = torch.ops.mkldnn._reorder_linear_weight(w_NK, 1)
            self.packed_bytes = w_NK.numel() * 4

    @property
    def weight(self) -> torch.Tensor:
        """The weight as an [out, in] fp32 tensor (dequantized for int8_fbgemm)."""
        if self.fmt == "int8_fbgemm":
            return torch.ops.quantized.linear_unpack(self._packed)[0].dequantize()
        return self._packed.to_dense()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2 = x.reshape(-1, self.in_features)
        if self.fmt == "int8_fbgemm":
            y = torch.ops.quantized.linear_dynamic(x2, self._packed, True)
        else:
            y = torch.ops.mkldnn._linear_pointwise(x2, self._packed, None, "none", [], "")
        return y.view(*x.shape[:-1], self.out_features)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        destination[prefix + "weight"] = self.weight

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, fmt={self.fmt}"
