"""Where a run trains, and what that device implies: its numeric precision, TF32, pinned copies, and
the deterministic kernels that keep the exact-resume guarantee on CUDA.

A device that is asked for but absent is one UserError, never a silent fallback to the CPU.

Exact resume holds on one device under one setting: a run stopped and resumed there is bit for bit
the run that never stopped. Restoring across devices (a CPU checkpoint onto a GPU, or back) continues
the same trajectory in value, not in bits: the kernels and their summation order differ, and on CUDA
the compute runs in bf16.
"""

from __future__ import annotations

import contextlib
import os
import re

import torch

from sonar.errors import UserError

DEVICE_FORMS = "cpu, cuda or cuda:N"
PRECISIONS = ("fp32", "bf16")
_DEVICE_NAME = re.compile(r"cpu|cuda(:\d+)?")
# cuBLAS is deterministic only with a fixed workspace; it must be set before cuBLAS first runs.
_CUBLAS_DETERMINISTIC = ":4096:8"


def check_device_name(name: object) -> None:
    """The spelling only: cpu, cuda or cuda:N (whether it is present is checked when a run starts)."""
    if not isinstance(name, str) or not _DEVICE_NAME.fullmatch(name):
        raise UserError(f"device={name!r}: must be {DEVICE_FORMS}")


def resolve_device(name: str) -> torch.device:
    """The torch device for `name`, which must be present on this machine."""
    check_device_name(name)
    device = torch.device(name)
    if device.type == "cpu":
        return device
    if not torch.cuda.is_available():
        raise UserError(f"device={name!r}: no CUDA device is available here (torch {torch.__version__}, "
                        f"built for CUDA {torch.version.cuda}); use device=cpu")
    index = device.index if device.index is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if index >= count:
        raise UserError(f"device={name!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return torch.device("cuda", index)


def device_name(device: torch.device) -> str:
    """What the device is, for reports: the GPU's name, or the CPU with torch's thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def compute_dtype(precision: str | None, device: torch.device) -> torch.dtype:
    """bf16 autocast (fp32 master weights) on CUDA unless fp32 is asked for; fp32 on the CPU unless
    bf16 is asked for (the CPU path of the CUDA tests uses that)."""
    if precision is None:
        precision = "bf16" if device.type == "cuda" else "fp32"
    return torch.bfloat16 if precision == "bf16" else torch.float32


def autocast(precision: str | None, device: torch.device):
    """The forward pass's context: autocast to bf16 where the run computes in it, else nothing."""
    dtype = compute_dtype(precision, device)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def enable_fast_fp32(device: torch.device) -> None:
    """TF32 for the fp32 matmuls that autocast leaves in fp32, and for whole fp32 runs on CUDA."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU batch onto `device`: pinned, then copied without blocking the host."""
    if device.type == "cpu":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


@contextlib.contextmanager
def deterministic_kernels(device: torch.device, enabled: bool = True):
    """CUDA kernels that give the same bits on every run (atomics-free reductions, a fixed cuBLAS
    workspace), restored on exit. The CPU paths sonar uses are deterministic already."""
    if device.type != "cuda" or not enabled:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", _CUBLAS_DETERMINISTIC)
    saved = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    saved_cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    # Strict, not warn_only: under warn_only SDPA's flash and memory-efficient backward passes keep
    # their non-deterministic split-key reductions. An op with no deterministic kernel stops the run
    # with torch's message; deterministic=False trades the guarantee for speed.
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_cudnn
