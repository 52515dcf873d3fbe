"""Tiny multimodal configs and prompts shared by the vision tests."""

from __future__ import annotations

import torch

from sonar.imaging import ImageTokens, image_token_ids
from sonar.model import preset
from sonar.model.fusion import build_multimodal_model
from sonar.model.multimodal_config import MultimodalConfig
from sonar.model.vision_config import VisionConfig

TOKENS = ImageTokens(image_start=500, image_end=501, tile_x_separator=502, tile_y_separator=503, image=504,
                     patch=505)
VISION = VisionConfig(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, image_size=56,
    patch_size=14, projector_input_dim=48, projector_output_dim=48, vision_output_dim=48,
)
CONFIG = MultimodalConfig(
    text=preset("debug").replace(initializer_range=0.08), vision=VISION,
    boi_token_index=TOKENS.image_start, eoi_token_index=TOKENS.image_end, image_token_index=TOKENS.patch,
)


def tiny_model(seed: int = 0):
    """A model whose every parameter (norms and biases included) is random, so none hides a mismatch."""
    model = build_multimodal_model(CONFIG, seed=seed).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=g))
    return model


def prompt(grids: list[tuple[int, int]], seed: int = 0) -> torch.Tensor:
    """[1, T]: random text with one image per grid between text pieces."""
    g = torch.Generator().manual_seed(seed)
    text = lambda n: torch.randint(0, 400, (n,), generator=g).tolist()  # noqa: E731
    ids = text(5)
    for grid in grids:
        ids += image_token_ids(grid, VISION.tokens_per_tile, TOKENS) + text(7)
    return torch.tensor([ids])


def pixels(grids: list[tuple[int, int]], seed: int = 0) -> torch.Tensor:
    """Random tiles for the images, a global tile added to every image of more than one tile."""
    n = sum(r * c + (1 if r * c > 1 else 0) for r, c in grids)
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, VISION.image_size, VISION.image_size, generator=g) * 2 - 1
