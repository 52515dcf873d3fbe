"""Decode step time of one system config under two compile modes, interleaved in one process, on the three
`sonar bench tune` architectures, with the roofline fraction each reaches:

    python -m sonar.bench.compile_modes [--modes default,aot] [--rounds 5] [--threads 1] [--json]

Each (architecture, weights) pair is prepared once per mode (the compile is paid before timing), then the
modes are timed in alternating rounds of `--steps` decode calls over the same prompt, so load drifting on
a shared machine hits both alike. Reported per round: the median step of each mode and their ratio. The
roofline fraction is (active weight bytes + KV bytes a step reads) / step time over an fp32 GEMV's bandwidth
measured in the same run (docs/decode-profile.md). Also reported: the resident memory each mode's first
call (its compile) leaves held, freed memory handed back first (Linux), beside the weights' own bytes. The
weights are the random init: speed does not depend on their values, quality is not judged here (`sonar
bench tune` judges it on trained weights).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import statistics
import time

import torch

from sonar.model import build_model
from sonar.systems.apply import prepare
from sonar.systems.bench import architectures
from sonar.systems.config import SystemConfig
from sonar.systems.decode_profile import kv_bytes_per_token, median_step_s
from sonar.systems.roofline import active_weight_bytes, gemv_bandwidth
from sonar.systems.workload import Session, Workload

# The weights `sonar bench tune` picks on trained weights (int8 everywhere, sync-free gather) and plain fp32.
WEIGHTS = {
    "int8": {f"weights_{s}": "int8" for s in ("routed", "shared", "attention", "dense", "head")}
    | {"moe_dispatch": "packed_gather"},
    "fp32": {"moe_dispatch": "gather"},
}


def resident_bytes() -> int | None:
    """This process's resident memory after handing freed heap back to the OS (None off Linux): what a
    compile leaves held, not what it freed and the allocator kept."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, AttributeError, ValueError):
        return None


def _tensor_bytes(model: torch.nn.Module) -> int:
    unique = {t.data_ptr(): t for t in model.state_dict().values()}  # a tied weight once
    return sum(t.numel() * t.element_size() for t in unique.values())


def measure(arch: str, weights: str, modes: list[str], *, rounds: int, steps: int, threads: int | None,
            workload: Workload) -> dict:
    model = build_model(architectures()[arch], seed=0).eval()
    sessions, logits, build_s, held_mb = {}, {}, {}, {}
    for mode in modes:
        prepared = prepare(model, SystemConfig(**WEIGHTS[weights], compile=mode, threads=threads))
        sessions[mode] = Session(prepared, workload)
        before = resident_bytes()
        t0 = time.perf_counter()
        logits[mode] = sessions[mode].first_output().clone()  # the first call compiles
        build_s[mode] = time.perf_counter() - t0
        after = resident_bytes()
        held_mb[mode] = None if before is None or after is None else (after - before) / 2**20
        median_step_s(sessions[mode], 3, warmup=0)
    step_bytes = active_weight_bytes(sessions[modes[0]].prepared.model) + kv_bytes_per_token(model, workload)
    per_round = []
    for _ in range(rounds):
        per_round.append({mode: median_step_s(sessions[mode], steps, warmup=0) for mode in modes})
    medians = {mode: statistics.median(r[mode] for r in per_round) for mode in modes}
    reference = logits[modes[0]]
    return {
        "arch": arch, "weights": weights, "step_bytes": step_bytes, "first_call_s": build_s,
        "weight_MB": _tensor_bytes(sessions[modes[0]].prepared.model) / 2**20,
        "first_call_held_MB": held_mb,
        "rounds_ms": [{m: r[m] * 1e3 for m in modes} for r in per_round],
        "median_ms": {m: v * 1e3 for m, v in medians.items()},
        "ratio_per_round": [r[modes[0]] / r[mode] for r in per_round for mode in modes[1:]],
        "achieved_GBps": {m: step_bytes / v / 1e9 for m, v in medians.items()},
        "max_abs_logit_diff": {m: float((logits[m] - reference).abs().max()) for m in modes[1:]},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="default,aot", help="compile modes; ratios are against the first")
    parser.add_argument("--weights", default="int8,fp32", help=f"weight sets among {sorted(WEIGHTS)}")
    parser.add_argument("--archs", default=",".join(architectures()))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30, help="decode calls per round and mode")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    modes, weights, archs = (v.split(",") for v in (args.modes, args.weights, args.archs))
    for name, given, known in (("--weights", weights, WEIGHTS), ("--archs", archs, architectures())):
        unknown = sorted(set(given) - set(known))
        if unknown:
            parser.error(f"{name}: unknown {unknown}; choose from {sorted(known)}")
    if len(modes) < 2 or args.rounds < 1 or args.steps < 1:
        parser.error("give at least two --modes, and --rounds and --steps >= 1")
    workload = Workload.parse("decode:ctx=256")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    bandwidth = gemv_bandwidth()
    rows = [measure(a, w, modes, rounds=args.rounds, steps=args.steps, threads=args.threads, workload=workload)
            for a in archs for w in weights]
    bandwidth = max(bandwidth, gemv_bandwidth())  # measured before and after; the better of the two
    report = {"modes": modes, "threads": torch.get_num_threads(), "gemv_bandwidth_GBps": bandwidth / 1e9,
              "rows": rows}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"GEMV bandwidth {bandwidth / 1e9:.1f} GB/s, {report['threads']} threads; ratio = {modes[0]} / other")
    print(f"| arch | weights | {' | '.join(f'{m} ms' for m in modes)} | ratio per round | "
          f"{' | '.join(f'{m} roofline' for m in modes)} | first call s | held by it MB (weights) | max logit diff |")
    for r in rows:
        ratios = ", ".join(f"{x:.2f}" for x in r["ratio_per_round"])
        print(f"| {r['arch']} | {r['weights']} | " + " | ".join(f"{r['median_ms'][m]:.3f}" for m in modes)
              + f" | {ratios} | " + " | ".join(f"{r['achieved_GBps'][m] / (bandwidth / 1e9):.0%}" for m in modes)
              + " | " + ", ".join(f"{r['first_call_s'][m]:.0f}" for m in modes)
              + " | " + ", ".join("?" if r["first_call_held_MB"][m] is None else f"{r['first_call_held_MB'][m]:.0f}"
                                  for m in modes) + f" ({r['weight_MB']:.0f})"
              + " | " + ", ".join(f"{v:.1e}" for v in r["max_abs_logit_diff"].values()) + " |")


if __name__ == "__main__":
    main()
