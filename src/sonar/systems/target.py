"""The hardware a measurement ran on, recorded with every measurement (numbers from another machine
are not comparable)."""

from __future__ import annotations

import os
import platform
from functools import cache

import torch


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def describe_target(target: str = "cpu") -> dict:
    info = {
        "target": target,
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "default_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def synchronize(target: str) -> None:
    """Wait for queued device work so a timer measures it (CUDA launches are asynchronous)."""
    if target == "cuda" and torch.cuda.is_available():
        torch.cuda.synchronize()
