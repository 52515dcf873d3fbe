"""MultimodalConfig: a text decoder, an image encoder, and the token ids that join them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sonar.model.config import ConfigError, ModelConfig
from sonar.model.presets import preset
from sonar.model.vision import check_encoder_config
from sonar.model.vision_config import VisionConfig


@dataclass(kw_only=True, frozen=True)
class MultimodalConfig:
    """Field names follow transformers' Llama4Config. `image_token_index` is the `<|patch|>` token whose
    embeddings the image features replace; the begin/end-of-image markers stay ordinary text."""

    text: ModelConfig = field(default_factory=lambda: preset("scout"))
    vision: VisionConfig = field(default_factory=VisionConfig)
    boi_token_index: int = 200080
    eoi_token_index: int = 200081
    image_token_index: int = 200092

    def __post_init__(self) -> None:
        if not isinstance(self.text, ModelConfig):
            raise ConfigError(f"text={type(self.text).__name__}: must be a ModelConfig")
        if not isinstance(self.vision, VisionConfig):
            raise ConfigError(f"vision={type(self.vision).__name__}: must be a VisionConfig")
        check_encoder_config(self.vision)
        for name in ("boi_token_index", "eoi_token_index", "image_token_index"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < self.text.vocab_size:
                raise ConfigError(f"{name}={value!r}: must be a token id in 0..{self.text.vocab_size - 1}")
        ids = (self.boi_token_index, self.eoi_token_index, self.image_token_index)
        if len(set(ids)) != 3:
            raise ConfigError(
                f"boi_token_index={ids[0]}, eoi_token_index={ids[1]}, image_token_index={ids[2]}: must differ"
            )

    def replace(self, **changes) -> MultimodalConfig:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:  # else a TypeError from dataclasses naming __init__, as ModelConfig.replace does not
            raise ConfigError(f"unknown MultimodalConfig fields: {unknown}")
        return dataclasses.replace(self, **changes)
