"""Images and settings on which our preprocessing is compared with transformers' Llama4ImageProcessor.

Shared by the tests and by make_processor_reference.py, which records the reference's outputs.
"""

from __future__ import annotations

# name: (sample image, crop rows, crop cols, tile side, max tiles, resize_to_max_canvas)
CASES = {
    "china": ("china.jpg", None, None, 336, 16, False),
    "flower": ("flower.jpg", None, None, 336, 16, False),
    "china_small_crop": ("china.jpg", (100, 180), (200, 250), 336, 16, False),
    "flower_tall": ("flower.jpg", None, (100, 300), 336, 16, False),
    "china_tile56_max6": ("china.jpg", None, None, 56, 6, False),
    "flower_tiny_upscaled_to_max_canvas": ("flower.jpg", (0, 40), (0, 90), 56, 16, True),
    "flower_tiny_not_upscaled": ("flower.jpg", (0, 40), (0, 90), 56, 16, False),
}
# Small enough to keep every reference pixel; the others keep a digest and per-tile statistics.
FULL_PIXEL_CASES = ("china_small_crop", "china_tile56_max6", "flower_tiny_upscaled_to_max_canvas",
                    "flower_tiny_not_upscaled")
PATCH_SIZE = 14
PIXEL_SHUFFLE_RATIO = 0.5


def load(name: str):
    from sklearn.datasets import load_sample_image

    image_name, rows, cols, *_ = CASES[name]
    image = load_sample_image(image_name)
    if rows is not None:
        image = image[rows[0]:rows[1]]
    if cols is not None:
        image = image[:, cols[0]:cols[1]]
    return image
