"""`sonar plan --table`: the maximum context for models x weight formats x GPU counts, one GPU type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from sonar.plan.fit import plan_deployment
from sonar.plan.gpus import GpuType
from sonar.plan.source import ModelSpec

DEFAULT_GPU_COUNTS = (1, 2, 4, 8)


@dataclass(kw_only=True, frozen=True)
class ContextRow:
    model: str
    weights: str
    weight_bytes: int
    max_position_embeddings: int
    max_context: dict[int, int]  # GPU count -> max context (0: the weights alone do not fit)


def context_table(
    specs: Sequence[ModelSpec],
    formats: Sequence[str],
    *,
    gpu: GpuType,
    gpu_counts: Sequence[int] = DEFAULT_GPU_COUNTS,
    batch: int = 1,
    kv_dtype: str = "bf16",
    reserve_gb: float | None = None,
) -> list[ContextRow]:
    rows = []
    for spec in specs:
        for weights in formats:
            plans = {
                n: plan_deployment(spec, weights=weights, gpu=gpu, gpus=n, context=1, batch=batch,
                                   kv_dtype=kv_dtype, reserve_gb=reserve_gb)
                for n in gpu_counts
            }
            first = next(iter(plans.values()))
            rows.append(ContextRow(
                model=spec.name, weights=weights, weight_bytes=first.weight_bytes,
                max_position_embeddings=first.max_position_embeddings,
                max_context={n: p.max_context for n, p in plans.items()},
            ))
    return rows


def format_tokens(tokens: int) -> str:
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:.2f}M"
    if tokens >= 1_000:
        return f"{tokens / 1_000:.1f}K"
    return str(tokens)


def render_context_table(rows: Sequence[ContextRow], gpu: GpuType, batch: int, kv_dtype: str) -> Table:
    counts = list(rows[0].max_context) if rows else list(DEFAULT_GPU_COUNTS)
    table = Table(title=f"max context, batch {batch}, {kv_dtype} KV cache, {gpu.name}"
                        f" ({gpu.memory_bytes / 1e9:.1f} GB); * = the model's own limit, - = weights do not fit")
    table.add_column("model")
    table.add_column("weights")
    table.add_column("GB", justify="right")
    for n in counts:
        table.add_column(f"{n}x", justify="right")
    for row in rows:
        cells = []
        for n in counts:
            tokens = row.max_context[n]
            if tokens == 0:
                cells.append("-")
            else:
                cap = "*" if tokens == row.max_position_embeddings else ""
                cells.append(format_tokens(tokens) + cap)
        table.add_row(row.model, row.weights, f"{row.weight_bytes / 1e9:.1f}", *cells)
    return table
