"""compile_modes' memory reading: what a compile leaves held, not what the allocator kept after freeing."""

import sys

import pytest
import torch

from sonar.bench.compile_modes import resident_bytes


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_resident_bytes_counts_what_is_held_and_not_what_was_freed():
    before = resident_bytes()
    held = torch.ones(16 * 2**20)  # 64 MiB, touched
    with_it = resident_bytes()
    del held
    without_it = resident_bytes()
    assert with_it - before >= 60 * 2**20
    assert with_it - without_it >= 60 * 2**20  # handed back, not counted as held
