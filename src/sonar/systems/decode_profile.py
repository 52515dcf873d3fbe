"""Where a batch-1 decode step's time goes, by op class, and the bytes it must read.

    python -m sonar.systems.decode_profile [--archs tiny,small] [--config '{"threads": 1, ...}'] [--json]

Each module of the prepared model runs inside a profiler label of its class (linear, attention, norm,
routing, moe); every top-level aten op is charged to its innermost label, so nested ops are counted
once. Classes: gemv (every linear's matmul, and the routed experts' matmuls inside the MoE dispatch),
attention (the attention module minus its projections: rope, cache writes, scores, softmax),
routing (router, top-k, sort/gather/scatter of the dispatch), norm/elementwise (RMSNorm, SwiGLU's
product, residual adds, embedding), and overhead: the unprofiled wall time of a step minus the op
time the profiler saw (Python, module calls, dispatcher).

A compiled step carries no module labels, so `profile_compiled_decode` splits it by what the profiler
does see: the kernels Inductor calls out to (gemv: int8/int4 packed and fp32 matmuls; attention: SDPA),
the compiled graph's own C++ kernels with the Python wrapper that calls them (norms, RoPE, routing,
dequantization, cache writes), Dynamo's guard check on every call, and the rest of the step (outside).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections import defaultdict

import torch
from torch import nn
from torch.autograd.profiler import record_function

from sonar.errors import UserError
from sonar.model.attention import Attention
from sonar.model.cache import KVCache
from sonar.model.moe import MoE
from sonar.model.norm import RMSNorm
from sonar.systems.apply import prepare
from sonar.systems.config import SystemConfig
from sonar.systems.linear_layout import InputMajorLinear
from sonar.systems.prepacked import PrepackedLinear
from sonar.systems.quant import FormattedLinear
from sonar.systems.workload import DECODE_WINDOW, Session, Workload

CLASSES = ("gemv", "attention", "routing", "norm/elementwise", "overhead")
COMPILED_CLASSES = ("gemv", "attention", "compiled kernels", "guards", "outside")
_LINEARS = (nn.Linear, InputMajorLinear, FormattedLinear, PrepackedLinear)
_MATMUL_OPS = ("mm", "bmm", "addmm", "matmul", "linear", "mv", "_weight_int8pack_mm", "_weight_int4pack_mm_for_cpu",
               "_grouped_mm", "linear_dynamic", "_linear_pointwise", "_scaled_mm")
_LABEL = "sonar::"


def kv_bytes_per_token(model: nn.Module, workload: Workload) -> int:
    """K and V bytes one decode step reads at the workload's context: the whole cache a timed step
    attends over (masked slots included), global layers at context + window, chunked layers their ring."""
    cache = KVCache.allocate(model, batch=workload.batch, max_len=workload.context + DECODE_WINDOW,
                             dtype=torch.float32)
    return sum(layer.k_BKSD.nbytes + layer.v_BKSD.nbytes for layer in cache.layers if layer is not None)


def _label_of(name: str, module: nn.Module) -> str | None:
    if name.endswith("router"):
        return "routing"
    if isinstance(module, _LINEARS):
        return "linear"
    if isinstance(module, Attention):
        return "attention"
    if isinstance(module, RMSNorm):
        return "norm"
    if isinstance(module, MoE):
        return "moe"
    return None


def _add_labels(model: nn.Module) -> list:
    handles = []
    for name, module in model.named_modules():
        label = _label_of(name, module)
        if label is None:
            continue

        def enter(mod, args, label=label):
            mod._sonar_profile_scope = record_function(_LABEL + label)
            mod._sonar_profile_scope.__enter__()

        def leave(mod, args, out):
            mod._sonar_profile_scope.__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    return handles


def _op_class(op_name: str, label: str | None) -> str:
    short = op_name.split("::")[-1]
    if label == "linear":
        return "gemv" if short in _MATMUL_OPS else "norm/elementwise"
    if label == "routing":
        return "routing"
    if label == "attention":
        return "attention"
    if label == "moe":  # inside the dispatch, outside any linear: the routed experts' matmuls or the routing
        return "gemv" if short in _MATMUL_OPS else "routing"
    return "norm/elementwise"


def _breakdown(events) -> dict[str, float]:
    """Seconds per class from the profiler's events: each top-level op (its parent is a label or none)."""
    seconds: dict[str, float] = defaultdict(float)
    for event in events:
        if event.name.startswith(_LABEL):
            continue
        parent = event.cpu_parent
        if parent is not None and not parent.name.startswith(_LABEL):
            continue  # nested inside another op, which is charged with it
        label = parent.name[len(_LABEL):] if parent is not None else None  # the innermost label
        seconds[_op_class(event.name, label)] += event.cpu_time_total / 1e6
    return seconds


def median_step_s(session: Session, steps: int, *, warmup: int = 3) -> float:
    """The median unprofiled step time after `warmup` untimed calls (the first compiles a compiled config)."""
    for _ in range(warmup):
        session.call()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        session.call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.inference_mode()
def profile_decode(model: nn.Module, config: SystemConfig, workload: Workload, *, steps: int = 20) -> dict:
    """Median unprofiled step time and its split by op class for `config` applied to `model`. A compiled
    graph runs fused kernels outside every module label, so a compiled config is profiled as its eager
    twin (the same weights, kernels and dispatch): `profiled` names what was split, `step_s` its time."""
    config = config.replace(compile="eager")
    threads_before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        prepared = prepare(model, config)
        session = Session(prepared, workload, batch_size=config.batch_size)
        wall_s = median_step_s(session, steps)
        handles = _add_labels(prepared.model)
        try:
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                for _ in range(steps):
                    session.call()
        finally:
            for h in handles:
                h.remove()
    finally:
        torch.set_num_threads(threads_before)
    per_step = {k: v / steps for k, v in _breakdown(prof.events()).items()}
    op_s = sum(per_step.values())
    per_step["overhead"] = max(0.0, wall_s - op_s)
    return {
        "profiled": config.label(),
        "step_s": wall_s,
        "seconds": {k: per_step.get(k, 0.0) for k in CLASSES},
        "fraction": {k: per_step.get(k, 0.0) / max(wall_s, op_s) for k in CLASSES},
    }


def _compiled_class(name: str) -> str | None:
    short = name.split("::")[-1]
    if short in _MATMUL_OPS:
        return "gemv"
    if "scaled_dot_product" in short:
        return "attention"
    if name.startswith("## Call CompiledFxGraph"):
        return "compiled kernels"
    if name == "TorchDynamo Cache Lookup":
        return "guards"
    return None


@torch.inference_mode()
def profile_compiled_decode(model: nn.Module, config: SystemConfig, workload: Workload, *, steps: int = 20) -> dict:
    """Median step time of a compiled config and its split by COMPILED_CLASSES (self times, so nothing
    counts twice); `outside` is the step minus the rest, clipped at 0."""
    if config.compile == "eager":
        raise UserError(f"{config.label()}: not a compiled config; profile_decode splits an eager step")
    if config.compile == "aot":
        # The package runs its kernels inside one C++ call the profiler does not see into, so all of a step
        # would read as "outside". Its kernels are the ones compile=default generates: that twin is split,
        # and what aot saves is the twin's guards and wrapper (tuned_latency_s is aot's own step).
        twin = profile_compiled_decode(model, dataclasses.replace(config, compile="default"), workload, steps=steps)
        return {**twin, "profiled": f"{config.label()} as its compile=default twin"}
    threads_before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        session = Session(prepare(model, config), workload, batch_size=config.batch_size)
        wall_s = median_step_s(session, steps)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                session.call()
    finally:
        torch.set_num_threads(threads_before)
    seconds: dict[str, float] = defaultdict(float)
    for average in prof.key_averages():
        cls = _compiled_class(average.key)
        if cls is not None:
            seconds[cls] += average.self_cpu_time_total / 1e6 / steps
    seconds["outside"] = max(0.0, wall_s - sum(seconds.values()))
    total = max(wall_s, sum(seconds.values()))
    return {
        "profiled": config.label(),
        "step_s": wall_s,
        "seconds": {k: seconds.get(k, 0.0) for k in COMPILED_CLASSES},
        "fraction": {k: seconds.get(k, 0.0) / total for k in COMPILED_CLASSES},
    }


def main() -> None:
    from sonar.model import build_model
    from sonar.systems.bench import architectures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="tiny,small,small-interleaved")
    parser.add_argument("--workload", default="decode:ctx=256")
    parser.add_argument("--config", action="append", default=[],
                        help="a SystemConfig as JSON (repeatable); the default config is always profiled first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    chosen = architectures()
    try:
        workload = Workload.parse(args.workload)
        configs = [SystemConfig(), *(SystemConfig.from_json(c, "--config") for c in args.config)]
        unknown = [name for name in args.archs.split(",") if name not in chosen]
        if unknown:
            raise UserError(f"--archs: unknown {unknown}; choose from {sorted(chosen)}")
    except UserError as err:
        parser.error(str(err))
    rows = []
    for name in args.archs.split(","):
        model = build_model(chosen[name], seed=0).eval()
        for config in configs:
            rows.append({"arch": name, "kv_bytes_per_token": kv_bytes_per_token(model, workload),
                         **profile_decode(model, config, workload)})
            if config.compile != "eager":
                rows.append({"arch": name, "kv_bytes_per_token": kv_bytes_per_token(model, workload),
                             **profile_compiled_decode(model, config, workload)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for classes in (CLASSES, COMPILED_CLASSES):
        chosen_rows = [r for r in rows if tuple(r["fraction"]) == classes]
        if not chosen_rows:
            continue
        print("| arch | config | step ms | " + " | ".join(classes) + " |")
        print("|---|---|---:|" + "---:|" * len(classes))
        for r in chosen_rows:
            shares = " | ".join(f"{100 * r['fraction'][k]:.0f}%" for k in classes)
            print(f"| {r['arch']} | {r['profiled']} | {1e3 * r['step_s']:.2f} | {shares} |")


if __name__ == "__main__":
    main()
