"""A deterministic synthetic backend: learning and tuning curves computed from the architecture.

Used by the tests, by `--backend synthetic`, and by the simulated executor. Bigger models start
higher, end lower and learn slower (so curves cross, as real ones do); latency grows with active
parameters and each system knob value scales it by a fixed pseudo-random factor. Both trainer and
tuner keep their progress in the candidate's workdir and resume from it, like the real ones.
Options (spec `synthetic:`): noise (loss std), eval_every (steps), step_cost_s, trial_cost_s,
sleep_s (real seconds per job, to make a search interruptible in tests), fail ({candidate: oom|nan|crash|exit}),
targets ({name: {scale, size}}: a target's latency is `scale` times as high and grows with the `active`
(default) or `total` parameter count, e.g. a laptop whose memory holds every expert's weights).
A train job that asks for long context (long_factor) gets its last point's long-context loss from
`long_context_ratio`, a model of the architecture's layer plan.

Several targets: the first target's latency is the one a single-target search has always had (unless
`targets` names it); every other target's knob values have factors of their own, drawn from its name,
so the best configuration, and with `size`/`scale` the ranking of candidates, differ between targets.
"""

from __future__ import annotations

import json
import math
import os
import time
import zlib
from pathlib import Path

import numpy as np

from sonar.interfaces import Candidate, CurvePoint, TuningPoint
from sonar.model.layout import layer_plans
from sonar.model.params import count_parameters

DEFAULT_SYSTEM_SPACE = {"schemes": ["fp32", "bf16", "int8", "int4"], "threads": [1, 2],
                        "attentions": ["eager", "sdpa"], "dispatches": ["dense", "grouped", "gather"]}


def _hash(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.is_file() else []


def _save(path: Path, points: list[dict]) -> None:
    """Atomic: a crash leaves the previous file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(points))
    os.replace(tmp, path)


def _shape(candidate: Candidate) -> tuple[float, float, float, float]:
    counts = count_parameters(candidate.model)
    size = math.log1p(counts.total / 1e4)
    asymptote = 1.0 + 4.0 / (1.0 + size)
    scale = 3.0 * (counts.total / 1e5) ** 0.25
    rate = 0.8 / (1.0 + 0.25 * size)
    return asymptote, scale, rate, counts.active


def _fail(options: dict, candidate: Candidate, kind: str) -> None:
    mode = (options.get("fail") or {}).get(candidate.id)
    if mode == "oom" and kind == "train":
        raise MemoryError(f"synthetic out of memory training {candidate.id}")
    if mode == "crash" and kind == "tune":
        raise RuntimeError(f"synthetic tuner crash on {candidate.id}")
    if mode == "exit" and kind == "train":  # the worker process dies (pool and Ray executors only)
        os._exit(3)


TRAIN_LEN = 128  # the training length the synthetic long-context model assumes (TrainConfig's default)


def long_context_ratio(model, factor: int) -> float:
    """Loss at `factor` x the training length over the in-length loss, modelled per doubling of length:
    a RoPE layer attending globally meets positions it never saw and degrades most; a chunked RoPE layer
    whose chunk is shorter than the long length never does; a NoPE (global) layer degrades a little,
    less with attention temperature tuning. So all-RoPE full attention degrades with the factor, and
    iRoPE (chunked RoPE + NoPE every few layers) with temperature tuning stays close to 1."""
    plans = layer_plans(model)
    chunk = model.attention_chunk_size
    local = chunk is not None and chunk < factor * TRAIN_LEN
    rope_global = sum(p.use_rope and not (p.chunked_mask and local) for p in plans) / len(plans)
    nope = sum(not p.use_rope for p in plans) / len(plans)
    per_doubling = 0.06 * rope_global + 0.02 * nope * (0.6 if model.attn_temperature_tuning else 1.0) + 0.004
    return 1.0 + per_doubling * math.log2(factor)


class SyntheticTrainer:
    def __init__(self, options: dict | None = None) -> None:
        self.options = options or {}

    def run(self, candidate: Candidate, until_step: int, *, long_factor: int | None = None) -> list[CurvePoint]:
        _fail(self.options, candidate, "train")
        path = Path(candidate.workdir) / "synthetic_curve.json"
        points = [p for p in _load(path) if p["step"] <= until_step]
        done = points[-1]["step"] if points else 0
        every = int(self.options.get("eval_every", 10))
        new_steps = sorted({s for s in range(every, until_step + 1, every) if s > done} | {until_step} - {done})
        asymptote, scale, rate, active = _shape(candidate)
        step_cost = float(self.options.get("step_cost_s", 0.01)) * active / 1e5
        noise = float(self.options.get("noise", 0.01))
        diverge = (self.options.get("fail") or {}).get(candidate.id) == "nan"
        for step in new_steps:
            rng = np.random.default_rng(_hash(candidate.id, candidate.seed, step))
            loss = asymptote + scale * (step + 10.0) ** -rate + noise * float(rng.normal())
            loss = math.nan if diverge and step > until_step // 2 else loss
            points.append(dict(step=step, tokens=step * 2048, train_loss=loss + 0.05, val_loss=loss,
                               seconds=step * step_cost))
            if self.options.get("sleep_s"):  # slow mode: checkpoint each evaluation, to be killed mid-job
                self._pause(len(new_steps))
                _save(path, points)
        if long_factor is not None and points and points[-1]["step"] == until_step:
            ratio = long_context_ratio(candidate.model, long_factor)
            points[-1] = {**points[-1], "long_loss": points[-1]["val_loss"] * ratio, "long_ratio": ratio}
        _save(path, points)
        return [CurvePoint(**p) for p in points]

    def _pause(self, parts: int) -> None:
        if self.options.get("sleep_s"):
            time.sleep(float(self.options["sleep_s"]) / parts)


class SyntheticTuner:
    def __init__(self, system_space: dict | None = None, options: dict | None = None, *,
                 target: str | None = None, primary: bool = True) -> None:
        self.space = system_space or DEFAULT_SYSTEM_SPACE
        self.options = options or {}
        settings = (self.options.get("targets") or {}).get(target) or {}
        self.scale = float(settings.get("scale", 1.0))
        self.size = settings.get("size", "active")
        self.salt = () if primary else (target,)  # the primary target's knob factors are the original ones

    def run(self, candidate: Candidate, until_trial: int) -> list[TuningPoint]:
        _fail(self.options, candidate, "tune")
        path = Path(candidate.workdir) / "synthetic_tuning.json"
        points = _load(path)[:until_trial]
        counts = count_parameters(candidate.model)
        size = counts.active if self.size == "active" else counts.total
        base = self.scale * 2e-3 * (size / 1e5) ** 0.8
        trial_cost = float(self.options.get("trial_cost_s", 0.5))
        for trial in range(len(points) + 1, until_trial + 1):
            rng = np.random.default_rng(_hash(candidate.id, candidate.seed, "trial", trial))
            config = {knob: choices[int(rng.integers(len(choices)))] for knob, choices in sorted(self.space.items())}
            factor = math.prod(0.5 + (_hash(candidate.id, knob, value, *self.salt) % 1000) / 1000.0
                               for knob, value in config.items())
            latency = base * factor * math.exp(0.02 * float(rng.normal()))
            best = min([latency] + [p["best_latency_s"] for p in points])
            cost = (points[-1]["seconds"] if points else 0.0) + trial_cost + 20 * latency
            points.append(dict(trial=trial, seconds=cost, config=config, latency_s=latency,
                               spread_s=0.02 * latency, quality_delta=0.0, best_latency_s=best,
                               failure=None, extra={}))
            if self.options.get("sleep_s"):
                time.sleep(float(self.options["sleep_s"]) / max(1, until_trial - len(points) + 1))
                _save(path, points)
        _save(path, points)
        return [TuningPoint(**p) for p in points]
