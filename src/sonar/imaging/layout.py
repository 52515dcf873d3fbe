"""Where an image sits in the prompt: the marker tokens around its tiles' patch tokens."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch

from sonar.errors import UserError

MAX_IMAGE_TOKENS = 2**24  # above any model's context (Llama 4: 10M positions); more is a typo, not an image


@dataclass(kw_only=True, frozen=True)
class ImageTokens:
    """Token ids of the image markers (Llama 4's tokenizer by default). `patch` is the token whose embeddings
    the image features replace (the model's image_token_index)."""

    image_start: int = 200080
    image_end: int = 200081
    tile_x_separator: int = 200084
    tile_y_separator: int = 200085
    image: int = 200090
    patch: int = 200092

    def __post_init__(self) -> None:
        ids = vars(self)
        bad = {name: value for name, value in ids.items()
               if not isinstance(value, int) or isinstance(value, bool) or value < 0}
        if bad:
            raise UserError(f"image token ids {bad}: must be integers >= 0")
        if len(set(ids.values())) != len(ids):
            raise UserError(f"image token ids {ids}: must all differ")


def image_token_ids(grid: tuple[int, int], tokens_per_tile: int, tokens: ImageTokens = ImageTokens()) -> list[int]:
    """The tokens for one image split into `grid` = (rows, cols) tiles.

    With more than one tile, each row of tiles comes first (patch tokens per tile, x separators between
    tiles, a y separator ending the row); then always the `<|image|>` marker and the patch tokens of one
    more tile (the whole image when tiled, else the only tile), between image-start and image-end.
    """
    if isinstance(grid, str | bytes) or not isinstance(grid, tuple | list) or len(grid) != 2 or not all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in grid):
        raise UserError(f"grid={grid!r}: must be (rows, cols), two integers")
    rows, cols = grid
    if rows < 1 or cols < 1:
        raise UserError(f"grid={grid}: an image has at least one row and one column of tiles")
    if isinstance(tokens_per_tile, bool) or not isinstance(tokens_per_tile, numbers.Integral) or tokens_per_tile < 1:
        raise UserError(f"tokens_per_tile={tokens_per_tile!r}: must be an integer >= 1")
    if (rows * cols + 1) * tokens_per_tile > MAX_IMAGE_TOKENS:  # the list is built whole
        raise UserError(f"grid={tuple(grid)}, tokens_per_tile={tokens_per_tile}: "
                        f"{(rows * cols + 1) * tokens_per_tile:,} image tokens; at most {MAX_IMAGE_TOKENS:,}")
    patches = [tokens.patch] * tokens_per_tile
    ids = [tokens.image_start]
    if rows * cols > 1:
        for _ in range(rows):
            for col in range(cols):
                ids += patches
                if col < cols - 1:
                    ids.append(tokens.tile_x_separator)
            ids.append(tokens.tile_y_separator)
    ids += [tokens.image, *patches, tokens.image_end]
    return ids


def prompt_with_images(pieces: list, tokens_per_tile: int, tokens: ImageTokens = ImageTokens()):
    """Token ids and pixel values for a prompt given as text token lists and ProcessedImages in order:
    returns (ids [T] list, pixel_values [N, C, S, S] or None), the tiles stacked in prompt order."""
    if isinstance(pieces, str | bytes | torch.Tensor) or not isinstance(pieces, list | tuple):
        raise UserError(f"pieces={str(pieces)[:40]!r}: must be a list of token-id lists and ProcessedImages")
    ids, tiles = [], []
    for i, piece in enumerate(pieces):
        if hasattr(piece, "pixel_values"):
            ids += image_token_ids(piece.grid, tokens_per_tile, tokens)
            tiles.append(piece.pixel_values)
        else:
            text = piece.tolist() if hasattr(piece, "tolist") else piece
            text = list(text) if isinstance(text, range) else text
            if isinstance(text, str | bytes) or not isinstance(text, list | tuple) or not all(
                    isinstance(t, numbers.Integral) and not isinstance(t, bool) and t >= 0 for t in text):
                raise UserError(f"pieces[{i}] ({type(piece).__name__} {str(piece)[:40]!r}): must be a list of token "
                                "ids (integers >= 0) or a ProcessedImage (tokenize text first)")
            ids += [int(t) for t in text]
    return ids, (torch.cat(tiles) if tiles else None)
