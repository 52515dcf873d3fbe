"""The decode roofline: experts touched at a batch, bytes read, and a bound that moves the right way."""

import pytest

from sonar.plan import load_model_spec, parse_gpu, plan_deployment
from sonar.plan.serving import decode_roofline, experts_touched

MAVERICK = load_model_spec("maverick")


def test_experts_touched_grow_from_k_towards_all():
    assert experts_touched(128, 1, 1) == pytest.approx(1.0)
    assert experts_touched(128, 1, 256) == pytest.approx(128 * (1 - (127 / 128) ** 256))
    assert experts_touched(16, 2, 10_000) == pytest.approx(16.0)
    assert experts_touched(128, 1, 64) < experts_touched(128, 1, 65) < 128


def roofline(batch, context=8192, bandwidth=3.35e12, model=MAVERICK):
    plan = plan_deployment(model, weights="fp8_mixed", gpu=parse_gpu("h100-80gb"), gpus=8, context=context)
    return decode_roofline(model.config, plan.weight_bytes_by_component, context=context, batch=batch, gpus=8,
                           kv_dtype="bf16", hbm_bytes_per_s=bandwidth), plan


def test_batch_one_reads_one_expert_per_layer_not_all():
    r, plan = roofline(1)
    routed = plan.weight_bytes_by_component["routed_experts"]
    assert r.weight_bytes_read_per_step < plan.weight_bytes - routed + routed / 100
    step_s = (r.weight_bytes_read_per_step / 8 + r.kv_bytes_read_per_step_per_gpu) / 3.35e12
    assert r.tokens_per_s_per_sequence == pytest.approx(1 / step_s)


def test_bigger_batches_raise_throughput_and_longer_contexts_lower_it():
    assert roofline(64)[0].tokens_per_s_per_gpu > roofline(1)[0].tokens_per_s_per_gpu
    assert roofline(1, context=262_144)[0].tokens_per_s_per_gpu < roofline(1)[0].tokens_per_s_per_gpu


def test_no_bandwidth_gives_no_speed_but_still_the_bytes():
    r = roofline(1, bandwidth=None)[0]
    assert r.tokens_per_s_per_gpu is None and r.tokens_per_s_per_sequence is None
    assert r.weight_bytes_read_per_step == roofline(1)[0].weight_bytes_read_per_step
