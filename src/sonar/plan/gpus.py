"""GPU types the planner knows by name, and custom capacities given in bytes, GB or GiB.

Capacities are the totals `nvidia-smi` reports for each card (MiB), not the marketing figure: an
"80 GB" H100 reports 81,559 MiB (85.5e9 bytes), an H200 143,771 MiB. The runtime's own use of that
memory (CUDA context, communication buffers, allocator slack) is the planner's reserve, not part of
the capacity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sonar.errors import UserError
from sonar.field_types import check_types

MIB = 1024**2
GIB = 1024**3
GB = 10**9


# A thousand times any GPU yet made (141 GB): beyond it a capacity is a typo, and 400 digits read as inf.
MAX_GPU_BYTES = 10**15
# A capacity written without a unit is bytes; below 1 GiB it is a unit left out (`--gpu 80` for 80GB), since
# no GPU that serves a Llama 4 model holds less. With a unit (`0.5GB`) a small capacity is taken as written.
MIN_BARE_BYTES = GIB


@dataclass(kw_only=True, frozen=True)
class GpuType:
    name: str
    memory_bytes: int
    hbm_bytes_per_s: float | None = None

    def __post_init__(self) -> None:
        check_types(self)
        if not self.name.strip():
            raise UserError(f"GPU name={self.name!r}: must be a non-empty name")
        if not 1 <= self.memory_bytes <= MAX_GPU_BYTES:
            raise UserError(f"GPU {self.name!r} memory_bytes={self.memory_bytes}: must be from 1 to {MAX_GPU_BYTES:,}")
        if self.hbm_bytes_per_s is not None and not 0 < self.hbm_bytes_per_s < float("inf"):
            raise UserError(f"GPU {self.name!r} bandwidth {self.hbm_bytes_per_s}: must be a positive finite number")


GPUS: dict[str, GpuType] = {
    gpu.name: gpu
    for gpu in (
        GpuType(name="h100-80gb", memory_bytes=81_559 * MIB, hbm_bytes_per_s=3.35e12),
        GpuType(name="h200-141gb", memory_bytes=143_771 * MIB, hbm_bytes_per_s=4.8e12),
        GpuType(name="a100-40gb", memory_bytes=40_960 * MIB, hbm_bytes_per_s=1.555e12),
        GpuType(name="a100-80gb", memory_bytes=81_920 * MIB, hbm_bytes_per_s=2.039e12),
    )
}

_CUSTOM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|gb|gib)?\s*$", re.IGNORECASE | re.ASCII)  # ASCII digits only
_UNIT_BYTES = {None: 1, "b": 1, "gb": GB, "gib": GIB}


def parse_gpu(text: str) -> GpuType:
    """A named GPU type, or a custom capacity: `96GB`, `96GiB`, or plain bytes (`85899345920`)."""
    if not isinstance(text, str):
        raise UserError(f"GPU {text!r}: must be a GPU name ({', '.join(GPUS)}) or a capacity such as '96GB'")
    name = text.strip().lower()
    if name in GPUS:
        return GPUS[name]
    match = _CUSTOM.match(name)
    if match:
        number, unit = match.groups()
        value = float(number) * _UNIT_BYTES[unit.lower() if unit else None]
        if value > MAX_GPU_BYTES:
            raise UserError(f"GPU capacity {text!r}: {value:.3g} bytes; at most {MAX_GPU_BYTES / GB:,.0f} GB")
        if unit is None or unit.lower() == "b":
            if not value.is_integer():
                raise UserError(f"GPU capacity {text!r}: a byte count is a whole number; for gigabytes write "
                                f"{number}GB or {number}GiB")
            if 1 <= value < MIN_BARE_BYTES:
                meant = f"{number}GB or {number}GiB" if value * GB <= MAX_GPU_BYTES else "e.g. 96GB or 96GiB"
                raise UserError(f"GPU capacity {text!r}: {int(value):,} bytes, less than any GPU; for gigabytes "
                                f"write {meant}")
        memory = int(value)
        if memory >= 1:
            return GpuType(name=f"custom-{text.strip()}", memory_bytes=memory)
    raise UserError(
        f"unknown GPU {text!r}; choose one of {sorted(GPUS)} or a capacity such as 96GB, 96GiB or a byte count"
    )
