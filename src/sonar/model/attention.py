"""Llama 4 attention: GQA with RoPE + QK-norm on chunked layers, temperature tuning on NoPE layers.

Legend: B batch, T new tokens, H query heads, K kv heads, D head dim, S keys attended.
"""

from __future__ import annotations

import torch
from torch import nn

from sonar.model.attention_kernels import ATTENTION_KERNELS, DEFAULT_ATTENTION_KERNEL
from sonar.model.cache import LayerCache
from sonar.model.config import ModelConfig
from sonar.model.layout import LayerPlan
from sonar.model.norm import rms_normalize
from sonar.model.rope import apply_rotary, temperature_scales


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, plan: LayerPlan) -> None:
        super().__init__()
        self.plan = plan
        self.n_heads = config.num_attention_heads
        self.n_kv_heads = config.num_key_value_heads
        self.head_dim = config.resolved_head_dim
        self.scale = self.head_dim**-0.5
        self.chunk = config.attention_chunk_size if plan.chunked_mask else None
        self.eps = config.rms_norm_eps
        self.floor_scale = config.floor_scale
        self.attn_scale = config.attn_scale
        self.kernel_name = DEFAULT_ATTENTION_KERNEL  # swapped from outside by sonar.systems
        D, H, K = config.hidden_size, self.n_heads, self.n_kv_heads
        self.q_proj = nn.Linear(D, H * self.head_dim, bias=False)
        self.k_proj = nn.Linear(D, K * self.head_dim, bias=False)
        self.v_proj = nn.Linear(D, K * self.head_dim, bias=False)
        self.o_proj = nn.Linear(H * self.head_dim, D, bias=False)

    def forward(
        self,
        x_BTD: torch.Tensor,
        *,
        positions_T: torch.Tensor,
        rotation: tuple[torch.Tensor, torch.Tensor] | None,
        cache: LayerCache | None,
        fresh: bool,
    ) -> torch.Tensor:
        B, T, _ = x_BTD.shape
        q_BTHD = self.q_proj(x_BTD).view(B, T, self.n_heads, self.head_dim)
        k_BTKD = self.k_proj(x_BTD).view(B, T, self.n_kv_heads, self.head_dim)
        v_BKTD = self.v_proj(x_BTD).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.plan.use_rope:
            cos_TF, sin_TF = rotation
            q_BTHD = apply_rotary(q_BTHD, cos_TF, sin_TF)
            k_BTKD = apply_rotary(k_BTKD, cos_TF, sin_TF)
        if self.plan.use_qk_norm:
            q_BTHD = rms_normalize(q_BTHD, self.eps)
            k_BTKD = rms_normalize(k_BTKD, self.eps)
        if self.plan.temperature_tuning:
            scales_T = temperature_scales(positions_T, self.floor_scale, self.attn_scale)
            q_BTHD = (q_BTHD * scales_T[None, :, None, None]).to(q_BTHD.dtype)
        q_BHTD = q_BTHD.transpose(1, 2)
        k_BKTD = k_BTKD.transpose(1, 2)

        if cache is None or fresh:
            keys, values, key_pos = k_BKTD, v_BKTD, positions_T
            if cache is not None:
                cache.write(k_BKTD, v_BKTD, positions_T)
        else:
            keys, values, key_pos = cache.keys_for(k_BKTD, v_BKTD, positions_T)
        kernel = ATTENTION_KERNELS[self.kernel_name]
        out_BHTD = kernel(
            q_BHTD, keys, values, q_pos=positions_T, k_pos=key_pos, chunk=self.chunk, scale=self.scale,
            fresh=fresh,
        )
        return self.o_proj(out_BHTD.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim))
