"""Rotary position embedding in Llama 4's interleaved-complex form, with optional llama3 scaling.

Within each head, adjacent pairs (x[2i], x[2i+1]) form one complex number rotated by pos * theta_i.
This is not the rotate-half (NeoX) layout; checkpoints keep the interleaved order.
"""

from __future__ import annotations

import math

import torch

from sonar.model.config import RopeScaling


def inverse_frequencies(head_dim: int, theta: float, scaling: RopeScaling | None) -> torch.Tensor:
    inv_freq_F = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))
    if scaling is None:
        return inv_freq_F
    return _llama3_scaled(inv_freq_F, scaling)


def _llama3_scaled(inv_freq_F: torch.Tensor, s: RopeScaling) -> torch.Tensor:
    # Long wavelengths are divided by `factor`, short ones kept, and the band between is blended.
    low_freq_wavelen = s.original_max_position_embeddings / s.low_freq_factor
    high_freq_wavelen = s.original_max_position_embeddings / s.high_freq_factor
    wavelen_F = 2 * math.pi / inv_freq_F
    scaled_F = torch.where(wavelen_F > low_freq_wavelen, inv_freq_F / s.factor, inv_freq_F)
    if s.high_freq_factor == s.low_freq_factor:
        return scaled_F  # the blending band is empty (Scout's settings)
    smooth_F = (s.original_max_position_embeddings / wavelen_F - s.low_freq_factor) / (
        s.high_freq_factor - s.low_freq_factor
    )
    blended_F = (1 - smooth_F) * scaled_F / s.factor + smooth_F * scaled_F
    in_band_F = (wavelen_F >= high_freq_wavelen) & (wavelen_F <= low_freq_wavelen)
    return torch.where(in_band_F, blended_F, scaled_F)


def rotation_tables(positions_T: torch.Tensor, inv_freq_F: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of pos * theta, each [T, head_dim/2], in fp32."""
    angles_TF = positions_T.float()[:, None] * inv_freq_F[None, :]
    return torch.cos(angles_TF), torch.sin(angles_TF)


def apply_rotary(x_BTHD: torch.Tensor, cos_TF: torch.Tensor, sin_TF: torch.Tensor) -> torch.Tensor:
    """Rotate each interleaved pair of x in fp32 and cast back."""
    B, T, H, D = x_BTHD.shape
    pairs = x_BTHD.float().view(B, T, H, D // 2, 2)
    real, imag = pairs[..., 0], pairs[..., 1]  # each [B, T, H, D/2]
    cos, sin = cos_TF[None, :, None, :], sin_TF[None, :, None, :]
    rotated = torch.stack((real * cos - imag * sin, real * sin + imag * cos), dim=-1)
    return rotated.view(B, T, H, D).type_as(x_BTHD)


def temperature_scales(positions_T: torch.Tensor, floor_scale: int, attn_scale: float) -> torch.Tensor:
    """Llama 4's query temperature on NoPE layers: 1 + attn_scale * ln(floor((p+1)/floor_scale) + 1)."""
    return torch.log1p(torch.floor((positions_T.float() + 1.0) / floor_scale)) * attn_scale + 1.0
