"""`sonar bench tune`: train three architectures briefly (bench_weights.py: quality is judged on
weights that carry signal), tune each for decode, then re-measure the tuned config and the untuned
default side by side (interleaved rounds, same process) so the ratio is not skewed by the load
drifting on a shared machine. Resumable: training and tuning state live under the bench workdir."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

import torch

from sonar.errors import UserError
from sonar.interfaces import Candidate
from sonar.model import ModelConfig, preset
from sonar.model.params import count_parameters
from sonar.systems.apply import transform
from sonar.systems.bench_weights import bench_workdir, check_train_steps, train_for_bench
from sonar.systems.config import SystemConfig
from sonar.systems.decode_profile import kv_bytes_per_token, profile_compiled_decode, profile_decode
from sonar.systems.roofline import active_weight_bytes, gemv_bandwidth
from sonar.systems.space import SearchSpace
from sonar.systems.target import describe_target
from sonar.systems.trial import MeasureSettings, Reference, run_trial
from sonar.systems.tuner import MAX_TUNER_TRIALS, SystemTuner, check_quality_limit, load_candidate_model
from sonar.systems.workload import Workload


def architectures() -> dict[str, ModelConfig]:
    """Three shapes whose best systems may differ: all-MoE small and tiny, and an interleaved
    dense/MoE model with more, narrower experts (Maverick's layout at small scale)."""
    return {
        "tiny": preset("tiny"),
        "small": preset("small"),
        "small-interleaved": preset("small").replace(
            num_local_experts=32, intermediate_size=512, interleave_moe_layer_step=2, use_qk_norm=False,
        ),
    }


# Each architecture trains with the settings of the preset it is sized like (sonar.train.presets).
TRAIN_SHAPES = {"tiny": "tiny", "small": "small", "small-interleaved": "small"}


BENCH_SPACE = SearchSpace(
    # fp32_mkldnn is left out: measured slower than fp32_io at batch 1 on all three here (docs/decode-profile.md).
    # The fbgemm schemes cost one trial each: a scheme over the quality limit is not tried again.
    schemes=("fp32", "fp32_io", "bf16", "int8", "int8_dq", "int4", "fp8", "int4_mixed", "fp8_mixed", "int8_experts",
             "int8_moe", "int8_fbgemm_ffn", "int8_fbgemm"),
    dispatches=("grouped", "gather", "packed_grouped", "packed_gather"),
    attentions=("chunk_blocked", "sdpa"),
    # aot: the decode step built ahead of time (systems/aot.py), without Dynamo's guards or a Python wrapper.
    compiles=("eager", "default", "aot"),
    threads=(None, 1),
)


def _interleaved(model, configs: list[SystemConfig], workload: Workload, reference: Reference,
                 rounds: int) -> list[list[float]]:
    """ABAB rounds: each round measures every config once more; returns the samples per config."""
    settings = MeasureSettings(warmup=2, min_repeats=5, max_repeats=5)
    samples: list[list[float]] = [[] for _ in configs]
    for _ in range(rounds):
        for i, config in enumerate(configs):
            result = run_trial(model, config, workload, reference, settings=settings)
            if result.failure:
                raise RuntimeError(f"re-measuring {config.label()} failed: {result.failure}")
            samples[i].append(result.latency_s)
    return samples


def remeasure(model, default: SystemConfig, tuned: SystemConfig, same_threads: SystemConfig,
              workload: Workload, reference: Reference) -> tuple[float, float, float]:
    """Median latencies of the default, the tuned config and the default at the tuned thread count
    (`same_threads`), interleaved. The last separates the thread knob (which on a shared machine can
    dominate) from everything else; where it is the default itself, its samples are pooled with the
    default's: one config measured twice gave two medians for one ratio, and on a shared machine they
    once differed 2.3x."""
    samples = _interleaved(model, [default, tuned, same_threads], workload, reference, rounds=3)
    if same_threads == default:
        pooled = statistics.median(samples[0] + samples[2])
        return pooled, statistics.median(samples[1]), pooled
    default_s, tuned_s, same_threads_s = (statistics.median(s) for s in samples)
    return default_s, tuned_s, same_threads_s


def bandwidth_at_threads(threads: int | None, measured_default: float) -> float:
    """The GEMV bandwidth at `threads` (None: the default count, already measured)."""
    if threads is None or threads == torch.get_num_threads():
        return measured_default
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return gemv_bandwidth()
    finally:
        torch.set_num_threads(before)


def bench_one(name: str, model_config: ModelConfig, *, workdir: Path, trials: int, workload: Workload,
              bandwidth: float, quality_limit: float, train_steps: int = 0, on_trial: Callable | None = None,
              log: Callable[[str], None] = lambda line: None) -> dict:
    arch_dir = bench_workdir(workdir, name, train_steps)
    if train_steps:
        log(f"{name}: training {train_steps} steps on the built-in corpus (resumable)")
    training = train_for_bench(model_config, arch_dir, train_steps, shape=TRAIN_SHAPES.get(name, "small"), log=log)
    candidate = Candidate(id=name, model=model_config, workdir=arch_dir)
    tuner = SystemTuner(workload=workload, space=BENCH_SPACE, quality_limit=quality_limit,
                        prior_path=workdir / "systems-prior.json",
                        settings=MeasureSettings(min_repeats=8, max_repeats=30, timeout_s=400),
                        compile_top_k=2, max_trials=trials, min_trials=16,
                        on_trial=on_trial)
    curve = tuner.run(candidate, trials)
    acceptable = [p for p in curve if p.failure is None and p.quality_delta <= quality_limit]
    if not acceptable:
        reasons = sorted({p.failure or f"quality {p.quality_delta:.3g} over the limit" for p in curve})
        raise UserError(f"{name}: no configuration ran within the quality limit in {len(curve)} trial(s); "
                        f"{'; '.join(reasons)[:400]}")
    best = min(acceptable, key=lambda p: p.latency_s)
    default, tuned = SystemConfig(), SystemConfig.from_dict(best.config)
    model, weights = load_candidate_model(candidate)
    reference = Reference(model)
    same_threads = default.replace(threads=tuned.threads)
    default_s, tuned_s, same_threads_s = remeasure(model, default, tuned, same_threads, workload, reference)
    tuned_bytes = active_weight_bytes(transform(model, tuned))
    default_bytes = active_weight_bytes(model)
    tokens_per_s = workload.rows(tuned.batch_size) / tuned_s if workload.kind != "prefill" else None
    decode = workload.kind != "prefill"
    kv_bytes = kv_bytes_per_token(model, workload) / workload.rows(tuned.batch_size) if decode else 0.0
    # The roofline at the thread count the tuned config runs: one core streams less than all of them.
    bandwidth = bandwidth_at_threads(tuned.threads, bandwidth)
    roofline = bandwidth / (tuned_bytes + kv_bytes)
    profiles = {"default_at_tuned_threads": profile_decode(model, same_threads, workload),
                "tuned": profile_decode(model, tuned, workload),
                "tuned_compiled": (profile_compiled_decode(model, tuned, workload) if tuned.compile != "eager"
                                   else None)} if decode else None
    return {
        "arch": name,
        "params_total": count_parameters(model_config).total,
        "params_active": count_parameters(model_config).active,
        "workload": workload.label(),
        "weights": "random init" if weights is None else f"trained {train_steps} steps" if training else weights,
        "val_loss": training["val_loss"] if training else None,
        "default_latency_s": default_s,
        "tuned_latency_s": tuned_s,
        "speedup": default_s / tuned_s,
        "default_at_tuned_threads_latency_s": same_threads_s,
        "speedup_at_same_threads": same_threads_s / tuned_s,
        "quality_delta": best.quality_delta,
        "quality_metric": best.extra.get("quality_metric"),
        "tuned_config": best.config,
        "tuned_label": best.extra["label"],
        "tuned_tokens_per_s": tokens_per_s,
        "default_tokens_per_s": workload.rows(1) / default_s if workload.kind != "prefill" else None,
        "active_weight_bytes": tuned_bytes,
        "default_active_weight_bytes": default_bytes,
        "kv_bytes_per_token": kv_bytes,
        "gemv_bandwidth_GBps_at_tuned_threads": bandwidth / 1e9,
        "achieved_GBps": tokens_per_s * (tuned_bytes + kv_bytes) / 1e9 if tokens_per_s else None,
        "roofline_tokens_per_s": roofline,
        "roofline_fraction": tokens_per_s / roofline if tokens_per_s else None,
        "decode_profile": profiles,
        "trials": len(curve),
        "failed_trials": sum(p.failure is not None for p in curve),
        "raced_trials": sum("raced" in p.extra for p in curve),
        "tuning_seconds": curve[-1].seconds,
        "curve": [{"trial": p.trial, "label": p.extra["label"], "latency_s": p.latency_s,
                   "quality_delta": p.quality_delta, "best_latency_s": p.best_latency_s, "failure": p.failure}
                  for p in curve],
    }


def run_bench(*, workdir: Path, trials: int = 20, workload: str = "decode:ctx=256", quality_limit: float = 0.01,
              archs: list[str] | None = None, train_steps: int = 0, on_trial: Callable | None = None,
              log: Callable[[str], None] = lambda line: None) -> dict:
    chosen = architectures()
    unknown = [name for name in archs or () if name not in chosen]
    if unknown:
        raise UserError(f"archs {unknown}: unknown; choose from {list(chosen)}")
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TUNER_TRIALS:
        raise UserError(f"trials={trials!r}: must be an integer from 1 to {MAX_TUNER_TRIALS:,}")
    check_quality_limit(quality_limit)  # before the bandwidth is measured
    check_train_steps(train_steps)
    if archs:
        chosen = {k: v for k, v in chosen.items() if k in archs}
    wl = Workload.parse(workload)
    for name, cfg in chosen.items():  # before any architecture trains
        wl.check_fits(cfg, name)
    bandwidth = gemv_bandwidth()
    results = [bench_one(name, cfg, workdir=workdir, trials=trials, workload=wl, bandwidth=bandwidth,
                         quality_limit=quality_limit, train_steps=train_steps, on_trial=on_trial, log=log)
               for name, cfg in chosen.items()]
    return {
        "target": describe_target("cpu"),
        "threads_default": torch.get_num_threads(),
        "gemv_bandwidth_GBps": bandwidth / 1e9,
        "quality_limit": quality_limit,
        "train_steps": train_steps,
        "results": results,
        "min_speedup": min(r["speedup"] for r in results),
    }
