"""Choosing the tile grid for an image: the canvas that needs the least rescaling, and the largest size the
image takes inside it without changing its aspect ratio."""

from __future__ import annotations

import math

import torch

from sonar.errors import UserError
from sonar.field_types import is_whole

# Far above Llama 4's 336-pixel tiles and 16 tiles, low enough that a typo fails here, not in an allocation
# (or, for max_tiles, in the grid enumeration, quadratic in it).
MAX_TILE_SIZE, MAX_TILES = 8192, 1024


def check_count(value: object, name: str, most: int) -> None:
    if not is_whole(value, 1, most):
        raise UserError(f"{name}={value!r}: must be an integer between 1 and {most:,}")


def _check_size(size_hw: object, name: str) -> None:
    """A (height, width) in pixels, each at least 1 (an empty side divided by zero, or chose a grid silently)."""
    if not isinstance(size_hw, tuple | list) or len(size_hw) != 2 or not all(is_whole(v, 1) for v in size_hw):
        raise UserError(f"{name}={size_hw!r}: must be (height, width), two integers >= 1")


def supported_grids(max_tiles: int) -> list[tuple[int, int]]:
    """Every (rows, cols) with rows * cols <= max_tiles, grouped by aspect ratio (first seen among the
    largest tile counts); the order only breaks ties between canvases of equal scale and area."""
    check_count(max_tiles, "max_tiles", MAX_TILES)
    by_ratio: dict[float, list[tuple[int, int]]] = {}
    for count in range(max_tiles, 0, -1):
        for rows in range(1, count + 1):
            if count % rows == 0:
                by_ratio.setdefault(rows / (count // rows), []).append((rows, count // rows))
    return [grid for grids in by_ratio.values() for grid in grids]


def best_canvas(image_hw: tuple[int, int], tile: int, max_tiles: int, *,
                resize_to_max_canvas: bool = False) -> tuple[int, int]:
    """The (rows, cols) grid whose canvas fits the image with the least upscaling, or when every canvas
    needs downscaling, the least downscaling; among equals, the smallest canvas (least padding).
    `resize_to_max_canvas` picks the largest upscaling instead."""
    _check_size(image_hw, "image_hw")
    check_count(tile, "tile", MAX_TILE_SIZE)
    grids = torch.tensor(supported_grids(max_tiles))
    canvas_G2 = grids * tile
    height, width = image_hw
    # float32 like the reference, so exact ties (which decide the grid) fall the same way
    scale_G = torch.minimum(canvas_G2[:, 0] / height, canvas_G2[:, 1] / width)
    upscales = scale_G[scale_G >= 1]
    if len(upscales):
        chosen = upscales.max() if resize_to_max_canvas else upscales.min()
    else:
        chosen = scale_G[scale_G < 1].max()
    candidates = grids[scale_G == chosen]
    area = candidates[:, 0] * candidates[:, 1]
    rows, cols = candidates[int(torch.argmin(area))].tolist()
    return rows, cols


def fit_without_distortion(image_hw: tuple[int, int], target_hw: tuple[int, int]) -> tuple[int, int]:
    """The largest (height, width) with the image's aspect ratio that fits in target_hw (the limiting side
    fills it, the other is rounded down)."""
    _check_size(image_hw, "image_hw")
    _check_size(target_hw, "target_hw")
    height, width = image_hw
    target_h, target_w = target_hw
    scale_w, scale_h = target_w / width, target_h / height
    if scale_w < scale_h:
        return max(min(math.floor(height * scale_w), target_h), 1), target_w
    return target_h, max(min(math.floor(width * scale_h), target_w), 1)
