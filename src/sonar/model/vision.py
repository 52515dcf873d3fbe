"""The Llama 4 image encoder: a ViT over one tile at a time, pixel shuffle, and the adapter MLP.

Shape legend: N tiles, C channels, S pixels per side, P patches per tile (+1 with the class token),
D encoder width, H heads, K head dim, Q complex pairs per head (K/2), G tokens per tile after shuffle,
E adapter output width, X values per patch (C * patch side^2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sonar.errors import UserError
from sonar.model.config import ConfigError
from sonar.model.vision_config import VisionConfig


def check_encoder_config(vision: VisionConfig) -> None:
    """Rules the encoder needs beyond VisionConfig's own: 2-D RoPE splits each head into x and y halves."""
    head_dim = vision.hidden_size // vision.num_attention_heads
    if head_dim % 4:
        raise ConfigError(
            f"vision head_dim={head_dim} (hidden_size {vision.hidden_size} / {vision.num_attention_heads} heads):"
            " 2-D RoPE needs a multiple of 4 (x and y halves of complex pairs)"
        )
    if vision.projector_input_dim != vision.projector_output_dim:
        raise ConfigError(
            f"projector_input_dim={vision.projector_input_dim} != projector_output_dim={vision.projector_output_dim}:"
            " the adapter's second layer maps the first one's output to itself, so they must be equal"
        )
    if vision.vision_output_dim != vision.projector_output_dim:
        raise ConfigError(
            f"vision_output_dim={vision.vision_output_dim} != projector_output_dim={vision.projector_output_dim}:"
            " the multimodal projector reads the adapter's output"
        )


def rotation_table(vision: VisionConfig) -> torch.Tensor:
    """Complex rotations [P+1, Q]: per head, the first Q/2 pairs turn with the patch's column, the rest
    with its row. Coordinates count from 1 so that angle 0 is left to the class token (the last row)."""
    side = vision.patches_per_side
    pairs_Q = vision.hidden_size // vision.num_attention_heads // 2
    freq_F = 1.0 / vision.rope_theta ** (torch.arange(pairs_Q // 2, dtype=torch.float) * 2 / pairs_Q)
    index_P = torch.arange(side * side)
    col_P = (index_P % side + 1).float()
    row_P = (index_P // side + 1).float()
    angle_PQ = torch.cat((col_P[:, None] * freq_F, row_P[:, None] * freq_F), dim=1)
    angle_PQ = torch.cat((angle_PQ, torch.zeros(1, pairs_Q)))  # the class token does not turn
    return torch.polar(torch.ones_like(angle_PQ), angle_PQ)


def rotate(x_NPHK: torch.Tensor, rot_PQ: torch.Tensor) -> torch.Tensor:
    # In fp32 whatever the model dtype: the rotation is where low precision hurts most.
    pairs = torch.view_as_complex(x_NPHK.float().reshape(*x_NPHK.shape[:-1], -1, 2))
    turned = torch.view_as_real(pairs * rot_PQ[None, :, None, :]).flatten(3)
    return turned.type_as(x_NPHK)


class VisionAttention(nn.Module):
    """Bidirectional multi-head attention with biases; every patch of a tile sees every other."""

    def __init__(self, vision: VisionConfig) -> None:
        super().__init__()
        D = vision.hidden_size
        self.n_heads = vision.num_attention_heads
        self.q_proj = nn.Linear(D, D, bias=True)
        self.k_proj = nn.Linear(D, D, bias=True)
        self.v_proj = nn.Linear(D, D, bias=True)
        self.o_proj = nn.Linear(D, D, bias=True)

    def forward(self, x_NPD: torch.Tensor, rot_PQ: torch.Tensor) -> torch.Tensor:
        N, P, D = x_NPD.shape
        heads = (N, P, self.n_heads, D // self.n_heads)
        q_NPHK = rotate(self.q_proj(x_NPD).view(heads), rot_PQ)
        k_NPHK = rotate(self.k_proj(x_NPD).view(heads), rot_PQ)
        v_NPHK = self.v_proj(x_NPD).view(heads)
        out_NHPK = F.scaled_dot_product_attention(
            q_NPHK.transpose(1, 2), k_NPHK.transpose(1, 2), v_NPHK.transpose(1, 2), is_causal=False
        )
        return self.o_proj(out_NHPK.transpose(1, 2).reshape(N, P, D))


class VisionMLP(nn.Module):
    def __init__(self, vision: VisionConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(vision.hidden_size, vision.intermediate_size, bias=True)
        self.fc2 = nn.Linear(vision.intermediate_size, vision.hidden_size, bias=True)

    def forward(self, x_NPD: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x_NPD)))


class VisionBlock(nn.Module):
    def __init__(self, vision: VisionConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(vision.hidden_size, eps=vision.norm_eps)
        self.attn = VisionAttention(vision)
        self.mlp_norm = nn.LayerNorm(vision.hidden_size, eps=vision.norm_eps)
        self.mlp = VisionMLP(vision)

    def forward(self, x_NPD: torch.Tensor, rot_PQ: torch.Tensor) -> torch.Tensor:
        x_NPD = x_NPD + self.attn(self.attn_norm(x_NPD), rot_PQ)
        return x_NPD + self.mlp(self.mlp_norm(x_NPD))


def pixel_shuffle(x_NPD: torch.Tensor, ratio: float) -> torch.Tensor:
    """[N, side*side, D] -> [N, (side*r)^2, D/r^2]: each output token stacks a (1/r x 1/r) block of patches,
    folding columns first and then rows (the order the checkpoints were trained with)."""
    N, P, D = x_NPD.shape
    side, fold = int(round(P**0.5)), int(round(1 / ratio))
    x = x_NPD.reshape(N, side, side // fold, fold * D)  # neighbouring columns side by side
    x = x.transpose(1, 2).reshape(N, side // fold, side // fold, fold * fold * D)  # then neighbouring rows
    return x.transpose(1, 2).reshape(N, -1, fold * fold * D)


class VisionAdapter(nn.Module):
    """Pixel shuffle, then a two-layer MLP without biases and with GELU after both layers."""

    def __init__(self, vision: VisionConfig) -> None:
        super().__init__()
        self.ratio = vision.pixel_shuffle_ratio
        shuffled = int(round(vision.hidden_size / vision.pixel_shuffle_ratio**2))
        self.fc1 = nn.Linear(shuffled, vision.projector_input_dim, bias=False)
        self.fc2 = nn.Linear(vision.projector_output_dim, vision.projector_output_dim, bias=False)

    def forward(self, x_NPD: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.fc2(F.gelu(self.fc1(pixel_shuffle(x_NPD, self.ratio)))))


class VisionEncoder(nn.Module):
    """encoder(pixels [N, C, S, S]) -> features [N, G, E], one row of G tokens per tile."""

    def __init__(self, vision: VisionConfig) -> None:
        super().__init__()
        check_encoder_config(vision)
        self.config = vision
        D, C, p = vision.hidden_size, vision.num_channels, vision.patch_size
        self.patch_embed = nn.Linear(C * p * p, D, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(D))
        self.positional_embedding = nn.Parameter(torch.empty(vision.patches_per_side**2 + 1, D))
        self.norm_pre = nn.LayerNorm(D, eps=vision.norm_eps)
        self.layers = nn.ModuleList(VisionBlock(vision) for _ in range(vision.num_hidden_layers))
        self.norm_post = nn.LayerNorm(D, eps=vision.norm_eps)
        self.adapter = VisionAdapter(vision)
        # A plain attribute, not a buffer: module.to(dtype) would cast the complex table to real.
        self._rot_PQ = rotation_table(vision)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        std, embed_std = self.config.initializer_range, self.config.hidden_size**-0.5
        for module in self.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
            elif isinstance(module, nn.Linear):
                module.weight.normal_(0.0, std, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
        self.class_embedding.normal_(0.0, embed_std, generator=generator)
        self.positional_embedding.normal_(0.0, embed_std, generator=generator)

    def rotation(self, device: torch.device) -> torch.Tensor:
        if self._rot_PQ.device != device:  # moved, or built on the meta device to be loaded
            self._rot_PQ = rotation_table(self.config).to(device)
        return self._rot_PQ

    def forward(self, pixels_NCSS: torch.Tensor) -> torch.Tensor:
        side = self.config.image_size
        if pixels_NCSS.dim() != 4 or tuple(pixels_NCSS.shape[1:]) != (self.config.num_channels, side, side):
            raise UserError(
                f"pixel values must be [tiles, {self.config.num_channels}, {side}, {side}],"
                f" got {tuple(pixels_NCSS.shape)}"
            )
        p = self.config.patch_size
        patches_NPX = F.unfold(pixels_NCSS, kernel_size=p, stride=p).transpose(1, 2)
        x_NPD = self.patch_embed(patches_NPX)
        cls_N1D = self.class_embedding.to(x_NPD.dtype).expand(x_NPD.shape[0], 1, -1)
        x_NPD = torch.cat((x_NPD, cls_N1D), dim=1) + self.positional_embedding.to(x_NPD.dtype)
        x_NPD = self.norm_pre(x_NPD)
        rot_PQ = self.rotation(x_NPD.device)
        for block in self.layers:
            x_NPD = block(x_NPD, rot_PQ)
        x_NPD = self.norm_post(x_NPD)[:, :-1]  # the class token is dropped after the encoder
        return self.adapter(x_NPD)
