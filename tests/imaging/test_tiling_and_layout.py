"""Tile grids and the prompt's image tokens, the latter against transformers' own layout helper."""

import re
from pathlib import Path

import numpy as np
import pytest
from processor_cases import CASES, PATCH_SIZE, PIXEL_SHUFFLE_RATIO

from sonar.errors import UserError
from sonar.imaging import ImageTokens, best_canvas, fit_without_distortion, image_token_ids, supported_grids
from sonar.model.vision_config import VisionConfig

REFERENCE = np.load(Path(__file__).parent / "data" / "llama4_processor_reference.npz")
TOKENS = ImageTokens()
NAMES = {
    "<|image_start|>": TOKENS.image_start, "<|image_end|>": TOKENS.image_end,
    "<|tile_x_separator|>": TOKENS.tile_x_separator, "<|tile_y_separator|>": TOKENS.tile_y_separator,
    "<|image|>": TOKENS.image, "<|patch|>": TOKENS.patch,
}


def _their_layout(grid, tokens_per_tile):
    processing = pytest.importorskip("transformers.models.llama4.processing_llama4")
    # The helper reads nothing from the processor, so it runs without a tokenizer.
    text = processing.Llama4Processor._prompt_split_image(None, grid, tokens_per_tile)
    pieces = re.findall(r"<\|[a-z_]+\|>", text)
    assert "".join(pieces) == text
    return [NAMES[p] for p in pieces]


@pytest.mark.parametrize("name", sorted(CASES))
def test_layout_matches_transformers_for_the_reference_images(name):
    grid = tuple(REFERENCE[f"{name}/grid"].tolist())
    tile = int(REFERENCE[f"{name}/shape"][-1])
    # as transformers' processor counts them, and as our encoder produces them
    tokens_per_tile = (tile // PATCH_SIZE) ** 2 // round(1 / PIXEL_SHUFFLE_RATIO**2)
    assert VisionConfig(image_size=tile, patch_size=PATCH_SIZE).tokens_per_tile == tokens_per_tile
    assert image_token_ids(grid, tokens_per_tile) == _their_layout(grid, tokens_per_tile)


@pytest.mark.parametrize("grid", [(1, 1), (1, 2), (3, 1), (2, 2), (4, 4)])
def test_layout_matches_transformers_at_llama4_size(grid):
    ids = image_token_ids(grid, 144)
    assert ids == _their_layout(grid, 144)
    rows, cols = grid
    tiles = rows * cols + (rows * cols > 1)
    assert ids.count(TOKENS.patch) == 144 * tiles


def test_single_tile_layout_is_spelled_out():
    t = ImageTokens(image_start=1, image_end=2, tile_x_separator=3, tile_y_separator=4, image=5, patch=6)
    assert image_token_ids((1, 1), 2, t) == [1, 5, 6, 6, 2]
    assert image_token_ids((1, 2), 1, t) == [1, 6, 3, 6, 4, 5, 6, 2]


def test_supported_grids_follow_transformers_order():
    # The order documented for transformers' find_supported_resolutions with 4 chunks.
    assert supported_grids(4) == [(1, 4), (2, 2), (1, 1), (4, 1), (1, 3), (3, 1), (1, 2), (2, 1)]
    assert all(r * c <= 16 for r, c in supported_grids(16)) and len(supported_grids(16)) == 50


def test_best_canvas_prefers_least_upscaling_then_least_downscaling():
    assert best_canvas((200, 300), 224, 3) == (1, 2)  # upscales 1.12x, smaller of two such canvases
    assert best_canvas((336, 336), 336, 16) == (1, 1)
    assert best_canvas((427, 640), 336, 16) == (2, 2)
    assert best_canvas((10000, 100), 336, 4) == (4, 1)  # every canvas downscales: the least of it
    assert best_canvas((40, 90), 56, 16, resize_to_max_canvas=True) == (3, 5)


def test_fit_without_distortion_examples():
    assert fit_without_distortion((200, 300), (450, 200)) == (133, 200)
    assert fit_without_distortion((800, 600), (450, 1300)) == (450, 337)


def test_bad_grids_and_ids_are_user_errors():
    with pytest.raises(UserError, match=r"grid=\(0, 2\)"):
        image_token_ids((0, 2), 4)
    with pytest.raises(UserError, match="must all differ"):
        ImageTokens(image=1, patch=1)
    with pytest.raises(UserError, match="max_tiles=0"):
        supported_grids(0)
