"""The measurement harness records failures instead of raising, and its decision rules."""

import math

import pytest
import torch

from sonar.model import build_model, preset
from sonar.systems.config import SystemConfig, uniform_weights
from sonar.systems.racing import clearly_slower, iqr, plateaued, quantile, without_outliers
from sonar.systems.trial import MeasureSettings, Reference, run_trial
from sonar.systems.workload import Workload

DECODE = Workload.parse("decode:ctx=40")

FAST = MeasureSettings(warmup=0, min_repeats=2, max_repeats=3, timeout_s=60)  # bookkeeping, not speed


@pytest.fixture(scope="module")
def model():
    return build_model(preset("debug"), seed=0).eval()


@pytest.fixture(scope="module")
def reference(model):
    return Reference(model)


def test_a_good_trial_has_samples_and_target(model, reference):
    result = run_trial(model, SystemConfig(**uniform_weights("bf16"), moe_dispatch="packed_grouped"), DECODE,
                       reference, settings=FAST)
    assert result.failure is None
    assert 2 <= len(result.samples) <= 3 and math.isfinite(result.latency_s) and result.latency_s > 0
    assert 0 < result.quality_delta < 0.02
    assert result.extra["target"]["torch"] and result.extra["target"]["cpu_capability"]
    assert result.seconds >= sum(result.samples)


def test_a_raising_config_is_recorded(model, reference, failing_dispatches):
    result = run_trial(model, SystemConfig(moe_dispatch="broken"), DECODE, reference, settings=FAST)
    assert result.failure.startswith("error: RuntimeError: this dispatch always fails")
    assert math.isinf(result.latency_s)


def test_non_finite_outputs_are_recorded(model, reference, failing_dispatches):
    result = run_trial(model, SystemConfig(moe_dispatch="nan"), Workload.parse("prefill:b=1,t=8"), reference,
                       settings=FAST)
    assert result.failure == "numerical: non-finite outputs"


def test_an_invalid_config_is_recorded_not_raised(model, reference):
    result = run_trial(model, SystemConfig(weights_routed="int8"), DECODE, reference, settings=FAST)
    assert result.failure.startswith("invalid: weights_routed='int8'")


def test_quality_uses_the_val_loss_function_when_given(model):
    calls = []

    def val_loss(m):
        calls.append(m)
        return 2.0 if len(calls) == 1 else 2.02  # reference first, then the transformed model

    reference = Reference(model, val_loss_fn=val_loss)
    result = run_trial(model, SystemConfig(**uniform_weights("bf16"), moe_dispatch="packed_grouped"), DECODE,
                       reference, settings=FAST)
    assert result.extra["quality_metric"] == "val_loss_increase"
    assert result.quality_delta == pytest.approx(0.01)


def test_racing_stops_a_clearly_slower_config(model, reference):
    incumbent = [1e-6] * 5  # an impossibly fast incumbent: every real config is clearly slower
    settings = MeasureSettings(warmup=0, min_repeats=5, max_repeats=20)
    result = run_trial(model, SystemConfig(), DECODE, reference, settings=settings, incumbent=incumbent)
    assert result.failure is None and "raced" in result.extra and len(result.samples) == 3


def test_statistics():
    assert quantile([1, 2, 3, 4, 5], 0.5) == 3 and iqr([1, 2, 3, 4, 5]) == 2
    assert without_outliers([1.0, 1.1, 0.9, 1.0, 50.0]) == [1.0, 1.1, 0.9, 1.0]


def test_clearly_slower_rules():
    fast = [1.0, 1.01, 0.99, 1.0, 1.02]
    assert clearly_slower([1.5, 1.52, 1.49], fast).startswith("factor")
    assert clearly_slower([1.0, 1.01, 0.99], fast) is None  # a tie is never raced out
    assert clearly_slower([1.5, 1.5], fast) is None  # too few samples to judge
    # 6% slower: below the factor, but with many low-variance samples the Bernstein race decides.
    assert clearly_slower([1.06, 1.07, 1.06, 1.07, 1.06, 1.07] * 10, fast * 12).startswith("bernstein")


def test_plateau_rule():
    flat = [10.0, 5.0] + [4.99] * 9
    assert plateaued(flat, patience=8, min_gain=0.01, min_trials=10)
    improving = [10.0 - 0.5 * i for i in range(11)]
    assert not plateaued(improving, patience=8, min_gain=0.01, min_trials=10)
    assert not plateaued([math.inf] * 12, patience=8, min_gain=0.01, min_trials=10)
    assert not plateaued(flat[:5], patience=3, min_gain=0.01, min_trials=10)


def test_throughput_latency_is_per_token(model, reference):
    workload = Workload.parse("throughput:ctx=16")
    result = run_trial(model, SystemConfig(batch_size=4), workload, reference, settings=FAST)
    assert result.failure is None and result.quality_delta < 1e-5
    assert result.extra["tokens_per_call"] == 4  # each timed step produced 4 tokens; samples are per token


def test_prefill_workload(model, reference):
    result = run_trial(model, SystemConfig(attention="sdpa"), Workload.parse("prefill:b=2,t=40"), reference,
                       settings=FAST)
    assert result.failure is None and result.quality_delta < 1e-5


def test_quality_is_judged_over_the_whole_decode_window(model, reference):
    from sonar.systems.apply import prepare
    from sonar.systems.quality import logits_error
    from sonar.systems.workload import DECODE_WINDOW, Session

    config = SystemConfig(**uniform_weights("int8"), moe_dispatch="packed_grouped")
    session = Session(prepare(model, config), DECODE)
    first = session.first_output()  # as a trial calls it: the step at position C, then the window
    window = session.quality_outputs()
    assert window.shape[0] == DECODE_WINDOW and torch.equal(window[0], first)
    per_step = [logits_error(window[i], reference.output(DECODE, 1)[i]) for i in range(DECODE_WINDOW)]
    assert len(set(per_step)) > 1  # the steps differ, so which ones are judged matters
    result = run_trial(model, config, DECODE, reference, settings=FAST)
    assert result.quality_delta == pytest.approx(logits_error(window, reference.output(DECODE, 1)))
    assert result.quality_delta != pytest.approx(per_step[0])  # not the first step alone
    assert result.extra["quality_metric"] == f"logits_rel_error_over_{DECODE_WINDOW}_calls"
