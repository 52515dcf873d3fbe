"""Our preprocessing against transformers' Llama4ImageProcessor on scikit-learn's sample photographs.

The reference outputs were recorded by make_processor_reference.py (transformers needs a torchvision that
this environment's CPU-only torch lacks); where torchvision does import, the live comparison runs too.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from processor_cases import CASES, FULL_PIXEL_CASES, load

from sonar.errors import UserError
from sonar.imaging import ImageProcessingConfig, preprocess_image

pytest.importorskip("sklearn")
REFERENCE = np.load(Path(__file__).parent / "data" / "llama4_processor_reference.npz")
NATIVE_UINT8_RESIZE = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
PIXEL_TOLERANCE = 1 / 64  # one bfloat16 step near 1; exact equality is expected with a native uint8 resize


def _config(name):
    _, _, _, tile, max_tiles, to_max_canvas = CASES[name]
    return ImageProcessingConfig(tile_size=tile, max_tiles=max_tiles, resize_to_max_canvas=to_max_canvas)


def _bits(pixels):
    return pixels.contiguous().view(torch.int16).numpy().view(np.uint16)


@pytest.mark.parametrize("name", sorted(CASES))
def test_grid_and_pixels_match_the_reference(name):
    ours = preprocess_image(load(name), _config(name))
    assert list(ours.grid) == REFERENCE[f"{name}/grid"].tolist()
    assert list(ours.pixel_values.shape) == REFERENCE[f"{name}/shape"].tolist()
    assert ours.pixel_values.dtype == torch.bfloat16
    means = ours.pixel_values.double().mean(dim=(-1, -2)).numpy()
    mean_diff = np.abs(means - REFERENCE[f"{name}/tile_channel_mean"]).max()
    assert mean_diff <= 1e-3, f"{name}: per-tile channel means differ by {mean_diff:.2e}"
    if name in FULL_PIXEL_CASES:
        expected = torch.from_numpy(REFERENCE[f"{name}/bits"].view(np.int16)).view(torch.bfloat16)
        diff = (ours.pixel_values.float() - expected.float()).abs().max().item()
        print(f"{name}: max abs pixel diff {diff:.3g}")
        assert diff <= PIXEL_TOLERANCE
    if NATIVE_UINT8_RESIZE:
        digest = hashlib.sha256(_bits(ours.pixel_values).tobytes()).digest()
        assert digest == REFERENCE[f"{name}/sha256"].tobytes(), f"{name}: pixel values are not bit-identical"


@pytest.mark.parametrize("name", ["china", "flower_tiny_upscaled_to_max_canvas"])
def test_matches_transformers_live_where_torchvision_imports(name):
    try:
        import torchvision  # noqa: F401
        from transformers import Llama4ImageProcessor
    except Exception as error:  # a torchvision built for another torch fails at import, not only when absent
        pytest.skip(f"transformers' Llama4ImageProcessor needs torchvision here: {error}")
    _, _, _, tile, max_tiles, to_max_canvas = CASES[name]
    processor = Llama4ImageProcessor(size={"height": tile, "width": tile}, max_patches=max_tiles,
                                     resize_to_max_canvas=to_max_canvas)
    theirs = processor(images=[load(name)], return_tensors="pt")
    ours = preprocess_image(load(name), _config(name))
    assert list(ours.grid) == np.asarray(theirs["aspect_ratios"]).reshape(-1).tolist()
    assert (ours.pixel_values.float() - theirs["pixel_values"].float()).abs().max().item() <= PIXEL_TOLERANCE


def test_one_tile_has_no_global_tile_and_many_tiles_end_with_one():
    small = preprocess_image(load("china_small_crop"))
    assert small.grid == (1, 1) and small.pixel_values.shape[0] == 1
    big = preprocess_image(load("china"))
    rows, cols = big.grid
    assert big.pixel_values.shape[0] == rows * cols + 1


def test_padding_is_zero_pixels_normalized():
    # A white 20x300 strip is not upscaled (past one tile side) into its 56x336 canvas: it fills the
    # top 20 rows of the first 300 columns; the rest is black padding, -1 after normalizing.
    strip = np.full((20, 300, 3), 255, dtype=np.uint8)
    out = preprocess_image(strip, ImageProcessingConfig(tile_size=56))
    assert out.grid == (1, 6)
    tiles = out.pixel_values[:6]
    assert torch.all(tiles[:5, :, :20] == 1) and torch.all(tiles[5, :, :20, :20] == 1)
    assert torch.all(tiles[:, :, 20:] == -1) and torch.all(tiles[5, :, :, 20:] == -1)


def test_accepts_pil_grayscale_and_tensors_and_rejects_the_rest():
    from PIL import Image

    array = load("china_small_crop")
    from_array = preprocess_image(array).pixel_values
    from_tensor = preprocess_image(torch.from_numpy(array.copy()).permute(2, 0, 1)).pixel_values
    from_pil = preprocess_image(Image.fromarray(array)).pixel_values
    assert torch.equal(from_array, from_tensor) and torch.equal(from_array, from_pil)
    grey = preprocess_image(Image.fromarray(array[..., 0]))
    assert grey.pixel_values.shape == from_array.shape
    with pytest.raises(UserError, match=r"\[H, W, 3\] uint8"):
        preprocess_image(array.astype(np.float32))
    with pytest.raises(UserError, match="type list"):
        preprocess_image([1, 2, 3])
