"""Training throughput: tokens/s and MFU, the achieved FLOP/s as a fraction of the device's measured
matmul peak (the CPU's fp32 peak; a GPU's bf16 peak, measured in the same run).

Random token batches (the data pipeline costs nothing next to a step), a few warm-up steps, then
the median step time over the measured ones; on CUDA each step is timed to its last kernel.
"""

from __future__ import annotations

import statistics
import time

import torch

from sonar.errors import UserError
from sonar.model import Llama4TextModel, build_model, preset
from sonar.train.config import TrainConfig
from sonar.train.device import compute_dtype, enable_fast_fp32, resolve_device, to_device
from sonar.train.flops import train_flops_per_token
from sonar.train.optimizer import build_optimizer
from sonar.train.presets import train_config_for
from sonar.train.runtime import keep_freed_memory
from sonar.train.step import apply_kernels, train_step

MAX_BENCH_STEPS = 10_000


def check_bench_steps(steps: int) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise UserError(f"steps={steps!r}: the benchmark measures at least one step; must be >= 1")
    if steps > MAX_BENCH_STEPS:  # a typo, not a measurement: refused before hours of timing
        raise UserError(f"steps={steps}: must be at most {MAX_BENCH_STEPS:,}")


def _initialised_on(device: torch.device, config) -> torch.nn.Module:
    """A seed-0 model, initialised where it runs: on a GPU that takes a second, where the CPU takes a
    minute for a billion parameters (the trainer keeps CPU initialisation, the same on every device)."""
    if device.type == "cpu":
        return build_model(config, seed=0)
    with torch.device(device):
        model = Llama4TextModel(config)
    with torch.no_grad():
        model.reset_parameters(torch.Generator(device).manual_seed(0))
    return model


def bench_preset(name: str, *, peak_flops: float, steps: int = 5, warmup: int = 2,
                 config: TrainConfig | None = None) -> dict:
    check_bench_steps(steps)
    config = config if config is not None else train_config_for(name, steps=1000)
    device = resolve_device(config.device)
    enable_fast_fp32(device)
    keep_freed_memory()
    model_config = preset(name)
    model = _initialised_on(device, model_config)
    apply_kernels(model, config)
    optimizer = build_optimizer(model, config)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model_config.vocab_size, (config.batch_size, config.seq_len + 1), generator=generator)
    ids = to_device(ids, device)
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        train_step(model, optimizer, ids[:, :-1], ids[:, 1:], step=step, config=config)  # returns a synced loss
        if step >= warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    tokens_per_s = config.tokens_per_step / seconds
    flops_per_token = train_flops_per_token(model_config, config.seq_len)
    achieved = tokens_per_s * flops_per_token
    memory = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {
        "preset": name, "device": str(device), "compute_dtype": str(compute_dtype(config.precision, device)),
        "batch_size": config.batch_size, "seq_len": config.seq_len, "moe_dispatch": config.moe_dispatch,
        "attention_kernel": config.attention_kernel,
        "step_seconds": seconds, "tokens_per_s": tokens_per_s, "flops_per_token": flops_per_token,
        "achieved_flops_per_s": achieved, "mfu": achieved / peak_flops, "max_memory_allocated_bytes": memory,
    }
