"""Process-level settings that make CPU training faster without changing its results.

glibc hands large freed blocks back to the kernel and maps fresh ones for the next step, so every
step page-faults its activations in again (millions of minor faults per run). Raising the mmap and
trim thresholds keeps those blocks in the heap for reuse.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

from sonar.errors import UserError

# torch's thread pool crashes the whole process (SIGSEGV) when asked for tens of thousands of threads
MAX_THREADS = 1024
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Apply once per process; False where the C library is not glibc (nothing changes there)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def idle_cores(available: int) -> int:
    """Cores not already busy, from the 1-minute load average: on a shared CPU, threads beyond the
    idle cores spin waiting for each other and a step slows down many times over."""
    import os

    try:
        load = os.getloadavg()[0]
    except OSError:
        return available
    return max(1, min(available, round(available - load)))


def check_threads(threads: int | None, label: str = "--threads ") -> None:
    """A thread count as given (None: the caller's default), refused outside 1..MAX_THREADS; `label`
    prefixes the value in the message ('--threads ' for a flag, 'threads=' for a setting)."""
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise UserError(f"{label}{threads}: must be between 1 and {MAX_THREADS:,}")


def use_threads(threads: int | None) -> None:
    """torch's thread count: `threads` (checked), or the idle cores when None."""
    import torch

    check_threads(threads)
    torch.set_num_threads(threads if threads is not None else idle_cores(torch.get_num_threads()))
