"""The process's random number generators (torch, numpy, Python's `random`) as tensors and plain
values, so a checkpoint holding them loads with `torch.load(weights_only=True)`: no object in it
needs code to be rebuilt."""

from __future__ import annotations

import random

import numpy as np
import torch


def capture_rng() -> dict:
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "position": int(position), "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": {"version": int(version), "state": torch.tensor(python_state, dtype=torch.int64),
                   "gauss": python_gauss},
    }


def restore_rng(saved: dict) -> None:
    """Set every generator `saved` holds (checkpoints of format 1 hold torch's only)."""
    torch.set_rng_state(saved["torch"])
    if "numpy" in saved:
        n = saved["numpy"]
        np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"],
                             n["cached_gaussian"]))
    if "python" in saved:
        p = saved["python"]
        random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
