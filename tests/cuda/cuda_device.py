"""The device the CUDA-path tests run on.

Without a GPU every test in this folder is skipped. SONAR_CUDA_TESTS_ON_CPU=1 runs the same bodies on
the CPU instead (target "cpu"), which checks the tests themselves where no GPU is at hand; checks that
only mean something on a GPU (the CUDA allocator's counters, CUDA-only refusals) skip there.
"""

import os

import pytest
import torch

ON_CPU = os.environ.get("SONAR_CUDA_TESTS_ON_CPU") == "1"
DEVICE = "cpu" if ON_CPU else "cuda"
RUNNABLE = ON_CPU or torch.cuda.is_available()
SKIP_REASON = "no CUDA device (SONAR_CUDA_TESTS_ON_CPU=1 runs these bodies on the CPU)"


def needs_gpu(what: str) -> None:
    """Skip a check that only means something on a real GPU when the bodies run on the CPU."""
    if DEVICE != "cuda":
        pytest.skip(f"{what}: only meaningful on a CUDA device")


# Every test module in this folder starts with `pytestmark = ON_DEVICE`.
ON_DEVICE = [pytest.mark.cuda, pytest.mark.skipif(not RUNNABLE, reason=SKIP_REASON)]
