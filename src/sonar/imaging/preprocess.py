"""Pixel values for Llama 4: resize into the best tile canvas, pad, normalize, cut into tiles, and add a
global tile (the whole image at tile size) when there is more than one tile.

Shape legend: C channels, H/W image height/width, N tiles, S tile side.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sonar.errors import UserError
from sonar.imaging.tiling import MAX_TILE_SIZE, MAX_TILES, best_canvas, check_count, fit_without_distortion

MAX_CANVAS_PIXELS = 2**28  # the canvas is allocated whole: a typo fails here, not in the allocation


@dataclass(kw_only=True, frozen=True)
class ImageProcessingConfig:
    tile_size: int = 336
    max_tiles: int = 16
    resize_to_max_canvas: bool = False  # False: never upscale past one tile side
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    # Normalizing in bfloat16 reproduces the values the released models were trained on.
    dtype: torch.dtype = torch.bfloat16

    def __post_init__(self) -> None:
        for name, most in (("tile_size", MAX_TILE_SIZE), ("max_tiles", MAX_TILES)):
            check_count(getattr(self, name), name, most)
        if self.tile_size**2 * self.max_tiles > MAX_CANVAS_PIXELS:  # the canvas is allocated whole
            raise UserError(f"tile_size={self.tile_size}, max_tiles={self.max_tiles}: a canvas of up to "
                            f"{self.tile_size**2 * self.max_tiles:,} pixels; at most {MAX_CANVAS_PIXELS:,}")
        if not isinstance(self.resize_to_max_canvas, bool):
            raise UserError(f"resize_to_max_canvas={self.resize_to_max_canvas!r}: must be True or False")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if isinstance(values, str | bytes) or not isinstance(values, tuple | list) or len(values) != 3 or not all(
                    isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                raise UserError(f"{name}={values!r}: must be three finite numbers, one per channel")
        if not all(self.std):
            raise UserError(f"std={self.std}: must be non-zero (pixels are divided by it)")
        if not isinstance(self.dtype, torch.dtype) or not self.dtype.is_floating_point:
            raise UserError(f"dtype={self.dtype!r}: must be a floating-point torch.dtype, e.g. torch.bfloat16")


@dataclass(frozen=True)
class ProcessedImage:
    pixel_values: torch.Tensor  # [N, C, S, S]: row-major tiles, then the global tile when N > 1
    grid: tuple[int, int]  # (rows, cols) of tiles, before the global tile


def as_uint8_chw(image) -> torch.Tensor:
    """A PIL image, an [H, W, 3] uint8 array or a [3, H, W] uint8 tensor, as a [3, H, W] uint8 tensor."""
    if hasattr(image, "convert"):  # PIL
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise UserError(f"image array of shape {image.shape} and dtype {image.dtype}: expected [H, W, 3] uint8")
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise UserError(f"image array of shape {image.shape}: an image needs at least one pixel")
        return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
            raise UserError(f"image tensor of shape {tuple(image.shape)}, {image.dtype}: expected [3, H, W] uint8")
        if image.shape[1] == 0 or image.shape[2] == 0:
            raise UserError(f"image tensor of shape {tuple(image.shape)}: an image needs at least one pixel")
        return image
    raise UserError(f"image of type {type(image).__name__}: expected a PIL image, a numpy array or a tensor")


def resize(image_CHW: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of a uint8 image, kept in uint8 (rounded) as the reference does."""
    if tuple(image_CHW.shape[-2:]) == tuple(size_hw):
        return image_CHW
    batch_1CHW = image_CHW[None].contiguous()
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        return F.interpolate(batch_1CHW, size=size_hw, mode="bilinear", align_corners=False, antialias=True)[0]
    # Without a native uint8 kernel: through float, rounded back (within one grey level of it).
    out = F.interpolate(batch_1CHW.float(), size=size_hw, mode="bilinear", align_corners=False, antialias=True)
    return out[0].round_().clamp_(0, 255).to(torch.uint8)


def normalize(image_CHW: torch.Tensor, config: ImageProcessingConfig) -> torch.Tensor:
    x = image_CHW.to(config.dtype) * (1 / 255)
    mean = torch.tensor(config.mean, dtype=config.dtype).view(-1, 1, 1)
    std = torch.tensor(config.std, dtype=config.dtype).view(-1, 1, 1)
    return (x - mean) / std


def preprocess_image(image, config: ImageProcessingConfig = ImageProcessingConfig()) -> ProcessedImage:
    _check_config(config)
    image_CHW = as_uint8_chw(image)
    height, width = image_CHW.shape[-2:]
    S = config.tile_size
    rows, cols = best_canvas((height, width), S, config.max_tiles, resize_to_max_canvas=config.resize_to_max_canvas)
    canvas_h, canvas_w = rows * S, cols * S
    if config.resize_to_max_canvas:
        limit_h, limit_w = canvas_h, canvas_w
    else:  # a small image is enlarged to one tile side at most, never to fill a bigger canvas
        limit_h, limit_w = min(max(height, S), canvas_h), min(max(width, S), canvas_w)
    resized_CHW = resize(image_CHW, fit_without_distortion((height, width), (limit_h, limit_w)))
    h, w = resized_CHW.shape[-2:]
    canvas_CHW = F.pad(resized_CHW, (0, canvas_w - w, 0, canvas_h - h))  # zeros at the right and bottom
    pixels_CHW = normalize(canvas_CHW, config)
    tiles_NCSS = pixels_CHW.reshape(3, rows, S, cols, S).permute(1, 3, 0, 2, 4).reshape(rows * cols, 3, S, S)
    if rows * cols > 1:
        global_CSS = normalize(resize(image_CHW, (S, S)), config)
        tiles_NCSS = torch.cat((tiles_NCSS, global_CSS[None]))
    return ProcessedImage(pixel_values=tiles_NCSS, grid=(rows, cols))


def preprocess_images(images, config: ImageProcessingConfig = ImageProcessingConfig()) -> list[ProcessedImage]:
    if not hasattr(images, "__iter__"):  # None, or one PIL image: preprocess_image takes one
        raise UserError(f"images is a {type(images).__name__}: pass a list of images (preprocess_image takes one)")
    return [preprocess_image(image, config) for image in images]


def _check_config(config: object) -> None:
    if not isinstance(config, ImageProcessingConfig):
        raise UserError(f"config: expected an ImageProcessingConfig, got {type(config).__name__}")
