"""SystemTuner: the sonar.interfaces.Tuner for system configs. Resumable, ordered by a learned
cost model, racing repeated measurements, stopping when the tuning curve plateaus.

State lives in `<workdir>/systems/tune-<workload>.json`, rewritten atomically after every trial.
The proposal order is a pure function of that state (the prior snapshot taken at the first run,
plus the trials measured since), so a killed and resumed tuner continues the same curve.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from sonar.errors import UserError
from sonar.interfaces import Candidate, TuningPoint
from sonar.systems.config import SystemConfig
from sonar.systems.isolate import run_trial_isolated
from sonar.systems.prior import PriorStore, fit, physical_guess, predict, record, write_json_atomic
from sonar.systems.space import SearchSpace
from sonar.systems.trial import MeasureSettings, Reference, TrialResult, run_trial
from sonar.systems.tune_state import STATE_VERSION, read_tune_state
from sonar.systems.workload import Workload


def _key(config: dict) -> str:
    return repr(sorted(config.items()))


# Compiled configs need a sync-free dispatch; the eager config they stand for may use its host-sync
# counterpart, which is usually the faster one in eager mode.
_SYNC_COUNTERPART = {"gather": "grouped", "packed_gather": "packed_grouped"}


def eager_twins(config: dict) -> list[dict]:
    """The eager configs whose measured speed earns `config` (a compiled one) its trial."""
    twins = [{**config, "compile": "eager"}]
    if config["moe_dispatch"] in _SYNC_COUNTERPART:
        twins.append({**twins[0], "moe_dispatch": _SYNC_COUNTERPART[config["moe_dispatch"]]})
    return twins


def _weights_key(config: dict) -> str:
    return repr(sorted((k, v) for k, v in config.items() if k.startswith("weights_") or k == "int4_group_size"))


def load_candidate_model(candidate: Candidate, checkpoint: Path | None = None):
    """The candidate's trained weights when a checkpoint exists, else its seeded random init."""
    from sonar.checkpoint import load_pretrained
    from sonar.model import build_model

    for path in (checkpoint, candidate.workdir / "checkpoint", candidate.workdir):
        if path is not None and (Path(path) / "config.json").is_file():
            return load_pretrained(path).eval(), str(path)
    return build_model(candidate.model, seed=candidate.seed).eval(), None


def baseline(candidates: list[SystemConfig]) -> SystemConfig | None:
    """The config measured first, every ratio being against it: the untuned default when the space holds
    it, else the space's config nearest to it (fewest knobs changed; the first such in the space's
    order). The tuner measures configs of its space only, so an excluded default is never a winner."""
    if not candidates:
        return None
    default = SystemConfig(target=candidates[0].target).to_dict()
    return min(candidates, key=lambda c: sum(v != default[k] for k, v in c.to_dict().items()))


def propose(candidates: list[SystemConfig], state: dict, *, workload_kind: str, quality_limit: float,
            compile_top_k: int, eager_done: bool = False) -> SystemConfig | None:
    """The next config to measure: the baseline first (the default, or the space's config nearest it),
    then the lowest predicted latency. Compiled configs wait until the eager sweep is done (`eager_done`, or every
    eager config measured) and then go only to the `compile_top_k` best acceptable eager results that have a
    compiled form in the space: compiling costs a minute, so only the finalists get one, and each exactly once."""
    measured = {_key(p["config"]) for p in state["points"]}
    first = baseline(candidates)
    if first is not None and _key(first.to_dict()) not in measured:
        return first
    # Finalists are the best eager configs that have a compiled form: an eager-only winner (prepacked
    # fbgemm linears) must not use up the compile slots, or the space's compiled configs go untried.
    compilable = {_key(twin) for c in candidates if c.compile != "eager" for twin in eager_twins(c.to_dict())}
    eager_ranked = sorted(
        (p for p in state["points"] if p["config"]["compile"] == "eager" and p["failure"] is None
         and p["quality_delta"] <= quality_limit and _key(p["config"]) in compilable),
        key=lambda p: p["latency_s"],
    )
    contenders = {_key(p["config"]) for p in eager_ranked[:compile_top_k]}
    if compile_top_k and eager_ranked and workload_kind != "prefill":
        # ... and the acceptable config that reads the fewest weight bytes: eager low-bit formats pay a
        # dequantization op per linear that compiling fuses away, so their eager speed undersells them, and a
        # memory-bound step compiled runs at the pace of its bytes (small-interleaved, docs/decode-profile.md)
        lightest = min(eager_ranked, key=lambda p: (physical_guess(p["config"], workload_kind), p["latency_s"]))
        contenders.add(_key(lightest["config"]))
    # Weight-only quantization error depends on the weights alone, not on kernels or compile mode:
    # once a weight scheme misses the quality limit, every config sharing it would too.
    too_lossy = {_weights_key(p["config"]) for p in state["points"]
                 if p["failure"] is None and not p["quality_delta"] <= quality_limit}
    effects = fit(state["prior_snapshot"] + state["run_records"], workload_kind)
    # Round-robin warm-up over weight schemes (as Ansor warms up every task): quality depends on the
    # scheme alone, so one trial per scheme settles which are admissible before kernels are tuned.
    seen_schemes = {_weights_key(p["config"]) for p in state["points"]}
    unseen = [c for c in candidates if c.compile == "eager" and _weights_key(c.to_dict()) not in seen_schemes]
    # A space without eager configs (compile only) ranks its compiled configs like eager ones.
    eager_space = any(c.compile == "eager" for c in candidates)
    eager_left = not eager_done and any(c.compile == "eager" and _key(c.to_dict()) not in measured
                                        for c in candidates)
    # The same warm-up over compile modes: a mode never measured in this run is tried on the best finalist
    # before a measured mode's effect (or an older run's prior) spends the compile slots on itself.
    modes_seen = {p["config"]["compile"] for p in state["points"]}
    best, best_key = None, (True, math.inf)
    for config in candidates if eager_done else unseen or candidates:
        d = config.to_dict()
        if _key(d) in measured:
            continue
        if d["compile"] == "eager" and eager_done:
            continue
        if eager_space and d["compile"] != "eager" and (
                eager_left or not any(_key(twin) in contenders for twin in eager_twins(d))):
            continue
        if _weights_key(d) in too_lossy:
            continue
        key = (eager_space and d["compile"] in modes_seen, predict(d, effects, workload_kind))
        if key[0] < best_key[0] or (key[0] == best_key[0] and key[1] < best_key[1] - 1e-12):
            best, best_key = config, key
    return best


# A quality delta is relative (logits: ||out - ref|| / ||ref||; val loss: 0.01 = 1% worse). Past 1 an output as far
# from the reference as the reference is large would pass: a limit above it is a typo, not a trade-off.
MAX_QUALITY_LIMIT = 1.0


def check_quality_limit(quality_limit: float, flag: str | None = None) -> None:
    """`flag` ("--quality-limit") names the value as the command line gave it."""
    shown = f"{flag} {quality_limit}" if flag else f"quality_limit={quality_limit!r}"
    if isinstance(quality_limit, bool) or not isinstance(quality_limit, int | float) \
            or not 0 <= quality_limit < math.inf:
        raise UserError(f"{shown}: must be a finite number >= 0")
    if quality_limit > MAX_QUALITY_LIMIT:
        raise UserError(f"{shown}: must be at most {MAX_QUALITY_LIMIT:g}; it is a relative error (0.01 = 1%), and "
                        "past 1 every configuration would pass")


# Past this a trial count is a typo: the tuner would time configurations for days.
MAX_TUNER_TRIALS = 1_000_000


def _check_tuner_counts(**counts: int | None) -> None:
    """SystemTuner's counts: integers (patience and max_trials >= 1, the rest >= 0), or None for the optional ones."""
    for name, value in counts.items():
        if value is None and name in ("max_trials", "max_eager_trials"):
            continue
        low = 1 if name in ("patience", "max_trials", "max_eager_trials") else 0
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_TUNER_TRIALS:
            raise UserError(f"{name}={value!r}: must be an integer from {low} to {MAX_TUNER_TRIALS:,}")


def eager_trial_budget(total_trials: int | None, compile_top_k: int, space: SearchSpace) -> int | None:
    """The eager sweep's share of a per-candidate trial budget. The compiled finalists come after the
    sweep, so their trials are kept out of it: a budget that ends before the sweep plateaus still ends
    with them. None (no cap) without a budget or without a compile mode to try."""
    if total_trials is None or compile_top_k <= 0 or all(mode == "eager" for mode in space.compiles):
        return None
    return max(1, total_trials - compile_top_k)


class SystemTuner:
    """Tuner(run(candidate, until_trial) -> list[TuningPoint]) over a SearchSpace for one workload."""

    def __init__(self, *, workload: str | Workload = "decode:ctx=256", space: SearchSpace | None = None,
                 settings: MeasureSettings | None = None, quality_limit: float = 0.01,
                 prior_path: Path | None = None, val_loss_fn=None, isolate: bool = False,
                 patience: int = 8, min_gain: float = 0.01, min_trials: int = 10, compile_top_k: int = 2,
                 max_trials: int | None = None, max_eager_trials: int | None = None, cold_compiles: bool = False,
                 checkpoint: Path | None = None,
                 on_trial: Callable[[TuningPoint], None] | None = None) -> None:
        if not isinstance(workload, str | Workload):
            raise UserError(f"workload={workload!r}: must be a Workload or text such as 'decode:ctx=256'")
        self.workload = Workload.parse(workload) if isinstance(workload, str) else workload
        for name, value, kind in (("space", space, SearchSpace), ("settings", settings, MeasureSettings)):
            if value is not None and not isinstance(value, kind):
                raise UserError(f"{name}={value!r}: must be a {kind.__name__} or None (the default)")
        self.space = space or SearchSpace()
        self.settings = settings or MeasureSettings()
        check_quality_limit(quality_limit)
        _check_tuner_counts(patience=patience, min_trials=min_trials, compile_top_k=compile_top_k,
                            max_trials=max_trials, max_eager_trials=max_eager_trials)
        if isinstance(min_gain, bool) or not isinstance(min_gain, int | float) or not 0 <= min_gain < math.inf:
            raise UserError(f"min_gain={min_gain!r}: must be a finite number >= 0 (a relative gain)")
        for name, value in (("isolate", isolate), ("cold_compiles", cold_compiles)):
            if not isinstance(value, bool):
                raise UserError(f"{name}={value!r}: must be true or false")
        # each is first used once the tuning has begun (a callback after the first trial is measured)
        if prior_path is not None and (isinstance(prior_path, bytes) or not isinstance(prior_path, str | os.PathLike)):
            raise UserError(f"prior_path={prior_path!r}: must be a file path (str or pathlib.Path) or None")
        for name, value in (("val_loss_fn", val_loss_fn), ("on_trial", on_trial)):
            if value is not None and not callable(value):
                raise UserError(f"{name}={value!r}: must be a function or None")
        if checkpoint is not None:  # a directory without config.json fell back to tuning the random init, unsaid
            from sonar.checkpoint.files import check_path, read_config

            read_config(check_path(checkpoint, "checkpoint"))
        self.quality_limit = quality_limit
        self.prior_path = prior_path
        self.val_loss_fn = val_loss_fn
        self.isolate = isolate
        self.patience, self.min_gain, self.min_trials = patience, min_gain, min_trials
        if max_eager_trials is None:  # a per-candidate budget keeps room for the compiled finalists
            max_eager_trials = eager_trial_budget(max_trials, compile_top_k, self.space)
        if max_eager_trials is not None and max_eager_trials < 1:
            raise UserError(f"max_eager_trials={max_eager_trials}: must be >= 1 (the default config) or None")
        self.compile_top_k = compile_top_k
        self.max_eager_trials = max_eager_trials
        self.cold_compiles = cold_compiles
        self.checkpoint = checkpoint
        self.on_trial = on_trial

    def state_path(self, candidate: Candidate) -> Path:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.workload.label()).strip("-")
        return Path(candidate.workdir) / "systems" / f"tune-{slug}.json"

    def _load_state(self, candidate: Candidate, prior: PriorStore) -> dict:
        path = self.state_path(candidate)
        if path.exists():  # a FIFO or a folder there is refused, not taken for absent and replaced
            return self._reopen_for_compiles(read_tune_state(path, self.workload.label()))
        return {"version": STATE_VERSION, "workload": self.workload.label(), "candidate": candidate.id,
                "prior_snapshot": prior.load(), "run_records": [], "points": [], "samples": [],
                "seconds": 0.0, "eager_stopped": None, "stopped": None}

    def _reopen_for_compiles(self, state: dict) -> dict:
        """A finished eager-only sweep (older states record no separate eager stop) goes on to its
        compile phase when this tuner compiles: the eager trials are kept, not measured again."""
        if "eager_stopped" not in state:
            state["eager_stopped"] = state["stopped"]
        if state["eager_stopped"] is None:  # a sweep saved under a larger budget, or none
            self._maybe_stop_eager(state)
        compiled = any(p["config"]["compile"] != "eager" for p in state["points"])
        if self.compile_top_k and state["stopped"] is not None and state["stopped"] == state["eager_stopped"] \
                and not compiled:
            state["stopped"] = None
        return state

    def _prior_path(self, candidate: Candidate) -> Path:
        return self.prior_path if self.prior_path is not None else Path(candidate.workdir).parent / "systems-prior.json"

    def run(self, candidate: Candidate, until_trial: int) -> list[TuningPoint]:
        prior = PriorStore(self._prior_path(candidate))
        state = self._load_state(candidate, prior)
        if len(state["points"]) >= until_trial or state["stopped"]:
            return self._curve(state, until_trial)
        setup_start = time.perf_counter()
        base, source = load_candidate_model(candidate, self.checkpoint)
        self.workload.check_fits(base.config, f"candidate {candidate.id}")
        reference = None if self.isolate else Reference(base, val_loss_fn=self.val_loss_fn, seed=self.settings.seed)
        candidates = self.space.configs(base.config, workload_kind=self.workload.kind)
        pending_setup = time.perf_counter() - setup_start
        path = self.state_path(candidate)
        while len(state["points"]) < until_trial and not state["stopped"]:
            eager_done = state["eager_stopped"] is not None
            config = propose(candidates, state, workload_kind=self.workload.kind, quality_limit=self.quality_limit,
                             compile_top_k=self.compile_top_k, eager_done=eager_done)
            if config is None:
                state["eager_stopped"] = state["eager_stopped"] or "space exhausted"
                state["stopped"] = ("space exhausted" if not eager_done
                                    else "compiled the top eager configs" if self.compile_top_k
                                    else state["eager_stopped"])
                break
            incumbent = self._incumbent_samples(state)
            if self.cold_compiles and config.compile != "eager":
                result = _cold_compiled_trial(candidate, source, config, self.workload, self.settings, incumbent)
            elif self.isolate:
                result = run_trial_isolated(candidate, source, config, self.workload, self.settings,
                                            incumbent=incumbent)
            else:
                result = run_trial(base, config, self.workload, reference, settings=self.settings,
                                   incumbent=incumbent)
            point = self._append(state, result, pending_setup, candidate, prior)
            pending_setup = 0.0
            if not eager_done:
                self._maybe_stop_eager(state)
            write_json_atomic(path, state)
            if self.on_trial is not None:
                self.on_trial(point)
        write_json_atomic(path, state)
        return self._curve(state, until_trial)

    def _maybe_stop_eager(self, state: dict) -> None:
        """Stop the eager sweep on a plateau or its budget; the compile phase, if any, follows."""
        best = [p["best_latency_s"] for p in state["points"]]
        if _plateaued(best, self):
            reason = f"plateau: under {self.min_gain:.0%} gain in the last {self.patience} trials"
        elif self.max_eager_trials is not None and len(state["points"]) >= self.max_eager_trials:
            reason = f"eager budget: {self.max_eager_trials} trials"
        else:
            return
        state["eager_stopped"] = reason
        if not self.compile_top_k:
            state["stopped"] = reason

    def _incumbent_samples(self, state: dict) -> list[float]:
        best = None
        for point, samples in zip(state["points"], state["samples"], strict=True):
            if self._acceptable(point) and (best is None or point["latency_s"] < best[0]):
                best = (point["latency_s"], samples)
        return best[1] if best else []

    def _acceptable(self, point: dict) -> bool:
        return point["failure"] is None and point["quality_delta"] <= self.quality_limit

    def _append(self, state: dict, result: TrialResult, setup_s: float, candidate: Candidate,
                prior: PriorStore) -> TuningPoint:
        state["seconds"] += result.seconds + setup_s
        previous_best = state["points"][-1]["best_latency_s"] if state["points"] else math.inf
        point_dict = {"trial": len(state["points"]) + 1, "seconds": state["seconds"], "config": result.config,
                      "latency_s": result.latency_s, "spread_s": result.spread_s,
                      "quality_delta": result.quality_delta, "failure": result.failure, "extra": dict(result.extra)}
        point_dict["best_latency_s"] = (min(previous_best, result.latency_s) if self._acceptable(point_dict)
                                        else previous_best)
        # The first point is the baseline: the default config, or the space's config nearest to it.
        reference = state["points"][0] if state["points"] else point_dict
        default_latency = reference["latency_s"] if state["points"] else result.latency_s
        if math.isfinite(default_latency) and math.isfinite(result.latency_s):
            point_dict["extra"]["speedup_vs_default"] = default_latency / result.latency_s
        point_dict["extra"]["label"] = SystemConfig.from_dict(result.config).label()
        point_dict["extra"]["trial_seconds"] = result.seconds
        state["points"].append(point_dict)
        state["samples"].append(result.samples)
        if math.isfinite(default_latency):
            new = record(result.config, self.workload.kind, result.latency_s, default_latency,
                         result.failure is not None, arch=candidate.id, reference=reference["config"])
            state["run_records"].append(new)
            prior.add([new])
        return _to_point(point_dict)

    def _curve(self, state: dict, until_trial: int) -> list[TuningPoint]:
        return [_to_point(p) for p in state["points"][:until_trial]]


def _cold_compiled_trial(candidate: Candidate, source: str | None, config: SystemConfig, workload: Workload,
                         settings: MeasureSettings, incumbent: list[float]) -> TrialResult:
    """A compiled trial in a fresh process with an empty inductor cache, so its recorded cost is a
    whole compile wherever it falls in a build: kernels cached by earlier candidates (on disk or in
    this process) would otherwise make a candidate's cost depend on what was measured before it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sonar-cold-compile-") as cache_dir:
        # Triton keeps its own kernel cache (CUDA), outside inductor's directory unless told
        env = {"TORCHINDUCTOR_CACHE_DIR": cache_dir, "TRITON_CACHE_DIR": str(Path(cache_dir) / "triton")}
        return run_trial_isolated(candidate, source, config, workload, settings, incumbent=incumbent, extra_env=env)


def _plateaued(best: list[float], tuner: SystemTuner) -> bool:
    from sonar.systems.racing import plateaued

    return plateaued(best, patience=tuner.patience, min_gain=tuner.min_gain, min_trials=tuner.min_trials)


def fields_of(cls) -> list[str]:
    return [f.name for f in fields(cls)]


def _to_point(d: dict) -> TuningPoint:
    return TuningPoint(**{name: d[name] for name in fields_of(TuningPoint)})
