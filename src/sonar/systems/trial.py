"""One trial: transform, (compile,) check numerics and quality, warm up, then time repeated calls.
Every failure is caught and returned with its reason; nothing here stops the tuner."""

from __future__ import annotations

import gc
import math
import statistics
import time
from dataclasses import dataclass, field

import torch

from sonar.field_types import check_types
from sonar.model.transformer import check_seed
from sonar.systems.apply import Prepared, prepare
from sonar.systems.config import SystemConfig, SystemConfigError
from sonar.systems.quality import ValLossFn, logits_error, val_loss_increase
from sonar.systems.racing import clearly_slower, iqr, without_outliers
from sonar.systems.space import check
from sonar.systems.target import describe_target, synchronize
from sonar.systems.workload import Session, Workload

MAX_REPEATS = 10_000
MAX_TIMEOUT_S = 86_400.0


@dataclass(kw_only=True, frozen=True)
class MeasureSettings:
    warmup: int = 2  # calls after the first (which absorbs compilation), untimed
    min_repeats: int = 5
    max_repeats: int = 20
    stable_spread: float = 0.03  # stop repeating once IQR/median falls below this
    timeout_s: float = 300.0  # per trial, compile included
    blowup: float = 0.5  # a quality delta above this is a numerical blow-up, not a trade-off
    racing_factor: float = 1.1
    racing_delta: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        check_types(self)
        if not 1 <= self.min_repeats <= self.max_repeats:
            raise SystemConfigError(
                f"min_repeats={self.min_repeats}, max_repeats={self.max_repeats}: need 1 <= min <= max"
            )
        if self.warmup < 0 or self.timeout_s <= 0:
            raise SystemConfigError(f"warmup={self.warmup}, timeout_s={self.timeout_s}: need warmup >= 0, timeout > 0")
        # Past these a count or a timeout is a typo that times one trial for ever, not a setting.
        for name, most in (("warmup", MAX_REPEATS), ("max_repeats", MAX_REPEATS), ("timeout_s", MAX_TIMEOUT_S)):
            if getattr(self, name) > most:
                raise SystemConfigError(f"{name}={getattr(self, name)}: must be at most {most:,}")
        if self.stable_spread < 0:
            raise SystemConfigError(f"stable_spread={self.stable_spread}: must be >= 0 (a relative spread)")
        if not self.blowup > 0:
            raise SystemConfigError(f"blowup={self.blowup}: must be > 0 (the quality delta that is a blow-up)")
        if self.racing_factor < 1:
            raise SystemConfigError(f"racing_factor={self.racing_factor}: must be >= 1 (how much slower is clearly "
                                    "slower)")
        if not 0 < self.racing_delta < 1:
            raise SystemConfigError(f"racing_delta={self.racing_delta}: must be strictly between 0 and 1 "
                                    "(the race's error probability)")
        check_seed(self.seed, "seed=")


@dataclass(kw_only=True)
class TrialResult:
    config: dict
    samples: list[float] = field(default_factory=list)
    latency_s: float = math.inf  # median of the kept samples, per token for throughput
    spread_s: float = 0.0
    quality_delta: float = math.nan
    failure: str | None = None
    seconds: float = 0.0  # wall time the trial cost, compile included
    extra: dict = field(default_factory=dict)


class Reference:
    """The fp32, untransformed model's outputs (and val loss), computed once per workload shape."""

    def __init__(self, model, *, val_loss_fn: ValLossFn | None = None, seed: int = 0) -> None:
        self.model = model.eval()
        self.val_loss_fn = val_loss_fn
        self.seed = seed
        self._outputs: dict[tuple[str, int], torch.Tensor] = {}
        self._val_loss: float | None = None

    def output(self, workload: Workload, batch_size: int) -> torch.Tensor:
        """Session.quality_outputs of the fp32 model for this workload and batch."""
        key = (workload.label(), workload.rows(batch_size))
        if key not in self._outputs:
            model = self.model

            def step(token_B1, position_1, cache):
                return model(token_B1, positions=position_1, cache=cache).logits[:, -1]

            prepared = Prepared(model=model, prefill=model, decode=step, config=SystemConfig())
            session = Session(prepared, workload, batch_size=batch_size, seed=self.seed)
            self._outputs[key] = session.quality_outputs()
        return self._outputs[key]

    def val_loss(self) -> float:
        if self._val_loss is None:
            self._val_loss = float(self.val_loss_fn(self.model))
        return self._val_loss


def classify_failure(err: BaseException, config: SystemConfig) -> str:
    """A one-line reason: out of memory, compile error, invalid config, or the exception itself."""
    text = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"[:300]
    if isinstance(err, MemoryError | torch.OutOfMemoryError) or "out of memory" in str(err).lower():
        return f"out of memory: {text}"
    if isinstance(err, SystemConfigError):
        return f"invalid: {err}"
    module = type(err).__module__ or ""
    if config.compile != "eager" and ("_dynamo" in module or "_inductor" in module or "compile" in text.lower()):
        return f"compile error: {text}"
    return f"error: {text}"


def run_trial(base_model, config: SystemConfig, workload: Workload, reference: Reference, *,
              settings: MeasureSettings = MeasureSettings(), incumbent: list[float] | None = None) -> TrialResult:
    start = time.perf_counter()
    result = TrialResult(config=config.to_dict(), extra={"target": describe_target(config.target)})
    threads_before = torch.get_num_threads()
    prepared = None
    try:
        check(config, base_model.config, workload_kind=workload.kind)
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        prepared = prepare(base_model, config)
        session = Session(prepared, workload, batch_size=config.batch_size, seed=settings.seed)
        first_start = time.perf_counter()
        session.first_output()
        synchronize(config.target)
        result.extra["first_call_s"] = time.perf_counter() - first_start
        out = session.quality_outputs()
        if time.perf_counter() - start > settings.timeout_s:
            result.failure = f"timeout: first call (compile included) passed {settings.timeout_s:.0f}s"
            return result
        if not bool(torch.isfinite(out).all()):
            result.failure = "numerical: non-finite outputs"
            return result
        if reference.val_loss_fn is not None:
            reference_loss = reference.val_loss()
            result.quality_delta = val_loss_increase(float(reference.val_loss_fn(prepared.model)), reference_loss)
            result.extra["quality_metric"] = "val_loss_increase"
        else:
            result.quality_delta = logits_error(out, reference.output(workload, config.batch_size))
            # Named apart from "logits_rel_error", what trials judged on the first step alone recorded, so a
            # resumed tuning state shows which check admitted each of its points.
            result.extra["quality_metric"] = f"logits_rel_error_over_{out.shape[0]}_calls"
        if not result.quality_delta <= settings.blowup:
            result.failure = f"numerical blow-up: quality delta {result.quality_delta:.3g} > {settings.blowup}"
            return result
        _time_calls(session, config, workload, settings, incumbent, start, result)
    except Exception as err:  # every failure is a recorded outcome, never a crash of the tuner
        result.failure = classify_failure(err, config)
    finally:
        torch.set_num_threads(threads_before)
        del prepared
        gc.collect()
        result.seconds = time.perf_counter() - start
    return result


def _time_calls(session: Session, config: SystemConfig, workload: Workload, settings: MeasureSettings,
                incumbent: list[float] | None, start: float, result: TrialResult) -> None:
    per_call_tokens = workload.rows(config.batch_size) if workload.kind == "throughput" else 1
    result.extra["tokens_per_call"] = per_call_tokens
    for _ in range(settings.warmup):
        session.call()
    synchronize(config.target)
    samples: list[float] = []
    for _ in range(settings.max_repeats):
        if time.perf_counter() - start > settings.timeout_s:
            break
        t0 = time.perf_counter()
        session.call()
        synchronize(config.target)
        samples.append((time.perf_counter() - t0) / per_call_tokens)
        raced = clearly_slower(samples, incumbent or [], factor=settings.racing_factor, delta=settings.racing_delta)
        if raced:
            result.extra["raced"] = raced
            break
        if len(samples) < settings.min_repeats:
            continue
        kept = without_outliers(samples)
        if iqr(kept) <= settings.stable_spread * statistics.median(kept):
            break
    if len(samples) < settings.min_repeats and "raced" not in result.extra:
        result.failure = f"timeout: {len(samples)} timed runs within {settings.timeout_s:.0f}s"
    if samples:
        kept = without_outliers(samples)
        result.samples = samples
        result.latency_s = statistics.median(kept)
        result.spread_s = iqr(kept)
        result.extra["outliers_dropped"] = len(samples) - len(kept)
        step_s = result.latency_s * per_call_tokens
        result.extra["step_latency_s"] = step_s
        result.failure = result.failure or workload.step_bound_failure(step_s, per_call_tokens)
