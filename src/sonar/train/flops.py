"""FLOP accounting from the config, and the device's measured matmul peak (cached on disk): the
CPU's in fp32, a CUDA device's in the dtype training computes in.

Training costs 3x the forward pass (forward, and backward for activations and for weights). The
forward pass per token is 2 FLOPs per active matmul parameter (the embedding is a lookup, not a
matmul; the LM head and the router are matmuls) plus attention: QK^T and AV, 2 * 2 * H * hd FLOPs
per key attended, with the number of keys averaged over the positions of a T-token sequence
(causal, restarted every chunk on chunked layers).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from sonar.data.cache import cache_root, write_atomic
from sonar.errors import UserError
from sonar.field_types import is_whole
from sonar.model.config import ModelConfig, require_model_config
from sonar.model.layout import layer_plans
from sonar.model.params import count_parameters

# Far past any context Llama 4 trains or serves at (Scout: 10M positions): a seq_len with a few zeros too many
# is named here rather than overflowing a float.
MAX_FLOPS_SEQ_LEN = 2**32


def mean_keys_attended(seq_len: int, chunk: int | None) -> float:
    if chunk is None or chunk >= seq_len:
        return (seq_len + 1) / 2
    # sum(t % chunk + 1 for t in range(seq_len)) in closed form: whole chunks, then the partial one. The loop
    # visited every position of every chunked layer (seconds at Scout's 10M context, for ever at 10**18); the
    # integers are exact, so the value is the same.
    whole, rest = divmod(seq_len, chunk)
    return (whole * chunk * (chunk + 1) // 2 + rest * (rest + 1) // 2) / seq_len


def forward_flops_per_token(config: ModelConfig, seq_len: int) -> float:
    require_model_config(config)
    if not is_whole(seq_len, 1, MAX_FLOPS_SEQ_LEN):
        raise UserError(f"seq_len={seq_len!r}: must be an integer from 1 to {MAX_FLOPS_SEQ_LEN:,}")
    seq_len = int(seq_len)  # a numpy integer's products would wrap at 2**63
    counts = count_parameters(config)
    matmul_params = counts.active - counts.embedding - counts.norms
    attention = 0.0
    width = config.num_attention_heads * config.resolved_head_dim
    for plan in layer_plans(config):
        chunk = config.attention_chunk_size if plan.chunked_mask else None
        attention += 4 * width * mean_keys_attended(seq_len, chunk)
    return 2 * matmul_params + attention


def train_flops_per_token(config: ModelConfig, seq_len: int) -> float:
    return 3 * forward_flops_per_token(config, seq_len)


def _machine_key(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}|threads={threads}|torch={torch.__version__}"


def measure_matmul_peak(*, size: int = 1024, repeats: int = 3, min_seconds: float = 0.1) -> float:
    """Best observed fp32 FLOP/s of a square matmul on the CPU with torch's current thread count."""
    a = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
    b = torch.randn(size, size, generator=torch.Generator().manual_seed(1))
    flops = 2 * size**3
    torch.mm(a, b)
    best = 0.0
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            torch.mm(a, b)
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = max(best, n * flops / elapsed)
    return best


def measure_cuda_matmul_peak(device: torch.device, dtype: torch.dtype = torch.bfloat16, *, size: int = 8192,
                             repeats: int = 10) -> float:
    """FLOP/s of a square matmul on a CUDA device, timed with CUDA events over `repeats` products
    after warm-ups, on random data (zeros run faster and would flatter the peak)."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    for _ in range(3):
        torch.mm(a, b)
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(repeats):
        torch.mm(a, b)
    end.record()
    end.synchronize()
    return repeats * 2 * size**3 / (begin.elapsed_time(end) / 1000)


def device_peak(device: torch.device, dtype: torch.dtype = torch.float32, *, cache_dir: str | Path | None = None,
                refresh: bool = False) -> float:
    """The measured matmul peak MFU is taken against: the CPU's fp32 peak, or a CUDA device's peak in
    the dtype its matmuls run in (bf16 under autocast; fp32 runs use TF32), cached per device."""
    if device.type == "cpu":
        return matmul_peak(cache_dir=cache_dir, refresh=refresh)
    key = f"{torch.cuda.get_device_name(device)}|{dtype}|torch={torch.__version__}"
    return _cached_peak(key, lambda: measure_cuda_matmul_peak(device, dtype), cache_dir=cache_dir, refresh=refresh)


def matmul_peak(*, cache_dir: str | Path | None = None, refresh: bool = False) -> float:
    """The measured peak for this CPU and thread count: measured once, then read from the cache;
    `refresh` measures again and keeps the higher value."""
    # A peak is a maximum: on a shared CPU a measurement can only come out low, so keep the best.
    return _cached_peak(_machine_key(torch.get_num_threads()), cpu_matmul_peak_now,
                        cache_dir=cache_dir, refresh=refresh)


def cpu_matmul_peak_now() -> float:
    """The CPU's fp32 matmul peak measured now, at torch's current thread count (best of three sizes):
    the baseline for a figure that must be measured in the same run as the peak."""
    return max(measure_matmul_peak(size=size) for size in (512, 1024, 2048))


def _cached_peak(key: str, measure, *, cache_dir: str | Path | None, refresh: bool) -> float:
    path = cache_root(cache_dir) / "matmul_peak.json"
    table = {}
    if path.is_file():
        try:
            table = json.loads(path.read_text())
        except json.JSONDecodeError:
            table = {}
    if refresh or key not in table:
        table[key] = max(measure(), table.get(key, 0.0))
        write_atomic(path, json.dumps(table, indent=1).encode())
    return float(table[key])
