"""VisionConfig: the Llama 4 early-fusion image encoder and projector (transformers' Llama4VisionConfig)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from sonar.model.config import ConfigError

# The largest value each numeric field may take: far above Llama 4's encoder (1408 wide, 34 layers, 336-pixel
# tiles) and low enough that a value with a few zeros too many fails here rather than hanging an allocation.
VISION_LIMITS: dict[str, float] = {
    "hidden_size": 2**16, "num_hidden_layers": 1024, "num_attention_heads": 1024, "intermediate_size": 2**18,
    "num_channels": 64, "image_size": 2**14, "patch_size": 2**10, "projector_input_dim": 2**18,
    "projector_output_dim": 2**18, "vision_output_dim": 2**18, "norm_eps": 1.0, "rope_theta": 1e12,
    "pixel_shuffle_ratio": 1.0, "initializer_range": 1e3,
}
# Real fields that must be above zero; initializer_range may be zero (a standard deviation), not below.
_POSITIVE_REALS = ("norm_eps", "rope_theta", "pixel_shuffle_ratio")


@dataclass(kw_only=True, frozen=True)
class VisionConfig:
    hidden_size: int = 1408
    num_hidden_layers: int = 34
    num_attention_heads: int = 16
    intermediate_size: int = 5632
    num_channels: int = 3
    image_size: int = 336
    patch_size: int = 14
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    pixel_shuffle_ratio: float = 0.5
    projector_input_dim: int = 4096
    projector_output_dim: int = 4096
    vision_output_dim: int = 4096
    multi_modal_projector_bias: bool = False
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        self._check_types()
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"vision hidden_size={self.hidden_size} is not divisible by"
                f" num_attention_heads={self.num_attention_heads}"
            )
        if self.image_size % self.patch_size:
            raise ConfigError(f"image_size={self.image_size} is not a multiple of patch_size={self.patch_size}")
        side = self.image_size // self.patch_size
        shrink = round(1 / self.pixel_shuffle_ratio)
        # Pixel shuffle stacks a block of shrink x shrink patches into one token, so 1/ratio must be a whole
        # number: a ratio such as 0.75 or 0.4 used to pass here and then fail in the adapter's first matmul.
        if not 0 < self.pixel_shuffle_ratio <= 1 or abs(shrink * self.pixel_shuffle_ratio - 1) > 1e-9 or side % shrink:
            raise ConfigError(
                f"pixel_shuffle_ratio={self.pixel_shuffle_ratio}: must be 1/n for a whole n, and the {side}x{side}"
                " patch grid must shrink evenly by n"
            )

    def _check_types(self) -> None:
        """Each field's type first, so a config.json holding a string or a zero is one error naming it."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                ok = isinstance(value, bool)
            elif field.type == "int":
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if not ok:
                rule = {"bool": "true or false", "int": "an integer >= 1"}.get(field.type, "a finite number")
                raise ConfigError(f"vision {field.name}={value!r}: must be {rule}")
            if field.name in _POSITIVE_REALS and value <= 0:
                raise ConfigError(f"vision {field.name}={value!r}: must be > 0")
            if field.name == "initializer_range" and value < 0:
                raise ConfigError(f"vision {field.name}={value!r}: must be >= 0")
            limit = VISION_LIMITS.get(field.name)
            if limit is not None and value > limit:
                raise ConfigError(f"vision {field.name}={value!r}: must be <= {limit:g}")

    @property
    def patches_per_side(self) -> int:
        return self.image_size // self.patch_size

    @property
    def tokens_per_tile(self) -> int:
        """Image tokens one tile becomes after pixel shuffle (144 for Llama 4)."""
        # By whole division: int(side * ratio) falls one short for some sides (49 * (1/49) = 0.999...),
        # which left the prompt one token row short of the features pixel_shuffle gives.
        return (self.patches_per_side // round(1 / self.pixel_shuffle_ratio)) ** 2

    def replace(self, **changes) -> VisionConfig:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:  # else a TypeError from dataclasses naming __init__, as ModelConfig.replace does not
            raise ConfigError(f"unknown VisionConfig fields: {unknown}")
        return dataclasses.replace(self, **changes)


def count_vision_parameters(vision: VisionConfig, text_hidden_size: int) -> int:
    """Encoder, adapter and multimodal projector (the 'vision tower' of the multimodal checkpoints)."""
    D, F, C, P = vision.hidden_size, vision.intermediate_size, vision.num_channels, vision.patch_size
    n_patches = vision.patches_per_side**2
    layer = 4 * (D * D + D) + (D * F + F) + (F * D + D) + 2 * 2 * D
    # Rounded, as the adapter sizes it: int() truncated D / 0.2**2 = D * 24.999... one short.
    shuffled = round(D / vision.pixel_shuffle_ratio**2)
    adapter = shuffled * vision.projector_input_dim + vision.projector_output_dim * vision.projector_output_dim
    projector = vision.vision_output_dim * text_hidden_size + (
        text_hidden_size if vision.multi_modal_projector_bias else 0
    )
    encoder = C * P * P * D + D + (n_patches + 1) * D + 2 * 2 * D + vision.num_hidden_layers * layer
    return encoder + adapter + projector
