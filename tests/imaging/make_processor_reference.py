"""Record transformers' Llama4ImageProcessor outputs for processor_cases.CASES.

It needs a torchvision that imports beside torch (the project's CPU-only torch has none), so it runs in a
separate environment with transformers==5.23.0, torchvision, scikit-learn and numpy:
    PYTHONPATH=tests/imaging python tests/imaging/make_processor_reference.py
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from processor_cases import CASES, FULL_PIXEL_CASES, load
from transformers import Llama4ImageProcessor

OUT = Path(__file__).parent / "data" / "llama4_processor_reference.npz"


def bits(pixels: torch.Tensor) -> np.ndarray:
    return pixels.contiguous().view(torch.int16).numpy().view(np.uint16)


def main() -> None:
    arrays = {}
    for name, (_, _, _, tile, max_tiles, to_max_canvas) in CASES.items():
        processor = Llama4ImageProcessor(size={"height": tile, "width": tile}, max_patches=max_tiles,
                                         resize_to_max_canvas=to_max_canvas)
        out = processor(images=[load(name)], return_tensors="pt")
        pixels = out["pixel_values"]
        assert pixels.dtype == torch.bfloat16, pixels.dtype
        arrays[f"{name}/grid"] = np.asarray(out["aspect_ratios"]).reshape(-1)
        arrays[f"{name}/shape"] = np.asarray(pixels.shape)
        arrays[f"{name}/sha256"] = np.frombuffer(hashlib.sha256(bits(pixels).tobytes()).digest(), np.uint8)
        arrays[f"{name}/tile_channel_mean"] = pixels.double().mean(dim=(-1, -2)).numpy()
        if name in FULL_PIXEL_CASES:
            arrays[f"{name}/bits"] = bits(pixels)
        print(name, tuple(pixels.shape), arrays[f"{name}/grid"].tolist())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=OUT.parent, suffix=".npz", delete=False) as tmp:
        np.savez_compressed(tmp, **arrays)
    os.replace(tmp.name, OUT)


if __name__ == "__main__":
    main()
