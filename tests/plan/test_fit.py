"""Verdicts against published deployment facts, and the exact maximum-context solve."""

import pytest

from sonar.errors import UserError
from sonar.model.config import ModelConfig
from sonar.plan.fit import MemoryModel, plan_deployment
from sonar.plan.gpus import GPUS, GpuType
from sonar.plan.memory import KvLayout, Workspace
from sonar.plan.source import ModelSpec, load_model_spec

H100 = GPUS["h100-80gb"]


def _plan(model, weights, gpus, context, **kw):
    return plan_deployment(load_model_spec(model), weights=weights, gpu=kw.pop("gpu", H100), gpus=gpus,
                           context=context, **kw)


def test_scout_int4_mixed_fits_one_h100_at_a_useful_context():
    plan = _plan("scout", "int4_mixed", 1, 131_072)
    assert plan.fits
    assert plan.max_context >= 131_072  # providers serve Scout at 128K


def test_scout_bf16_does_not_fit_two_h100s():
    plan = _plan("scout", "bf16", 2, 8192)
    assert not plan.fits and plan.max_context == 0


def test_scout_bf16_fits_four_and_fp8_two_h100s():
    assert _plan("scout", "bf16", 4, 131_072).fits
    assert _plan("scout", "fp8_mixed", 2, 131_072).fits


@pytest.mark.parametrize("weights", ["fp8_mixed", "fp8"])
def test_maverick_fp8_fits_one_8x_h100_host(weights):
    plan = _plan("maverick", weights, 8, 131_072)
    assert plan.fits
    assert not _plan("maverick", weights, 4, 8192).fits


def test_10m_scout_context_in_bf16_does_not_fit_one_8x_h100_host():
    plan = _plan("scout", "bf16", 8, 10_485_760, kv_dtype="bf16")
    assert not plan.fits
    assert plan.max_context < 10_485_760
    assert plan.kv_bytes > 500e9


def test_json_figures_for_the_worked_example():
    plan = _plan("scout", "bf16", 8, 10_485_760)
    assert plan.kv_bytes_per_token["per_layer"] == 4096
    assert plan.kv_bytes_per_token["global_layers"] == 48 * 1024
    assert plan.kv_bytes_global_layers == pytest.approx(515e9, rel=0.002)
    assert plan.kv_bytes_chunked_layers == pytest.approx(1.2e9, rel=0.01)
    assert plan.kv_bytes_ignoring_chunking == pytest.approx(2.06e12, rel=0.01)


def test_chunking_raises_the_max_context():
    plan = _plan("scout", "int4_mixed", 1, 131_072)
    assert plan.max_context > 3 * plan.max_context_ignoring_chunking


def _brute_force_max(memory, capacity, limit):
    lo, hi = 0, limit  # need() is non-decreasing: bisect for the last context that fits
    if memory.need(1) > capacity:
        return 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if memory.need(mid) <= capacity:
            lo = mid
        else:
            hi = mid - 1
    return lo


@pytest.mark.parametrize("batch", [1, 3, 16])
@pytest.mark.parametrize("chunk", [64, 8192, None])
@pytest.mark.parametrize("capacity", [10**6, 10**7 + 12345, 3 * 10**8])
def test_max_context_is_exact(batch, chunk, capacity):
    config = ModelConfig(attention_chunk_size=chunk)
    memory = MemoryModel(fixed=500_000, kv=KvLayout.from_config(config, "bf16"),
                         workspace=Workspace.from_config(config, prefill_tokens=512), batch=batch)
    best = memory.max_context(capacity)
    assert best == _brute_force_max(memory, capacity, 10**9)
    if best:
        assert memory.need(best) <= capacity < memory.need(best + 1)


def test_max_context_is_unbounded_without_global_layers():
    config = ModelConfig(nope_layers=(), max_position_embeddings=4096)
    spec = ModelSpec(name="all-chunked", config=config)
    plan = plan_deployment(spec, weights="bf16", gpu=H100, context=4096)
    assert plan.max_context_by_memory is None
    assert plan.max_context == 4096


def test_plan_max_context_agrees_with_the_verdict():
    plan = _plan("scout", "int4_mixed", 1, 131_072)
    assert _plan("scout", "int4_mixed", 1, plan.max_context).fits
    assert not _plan("scout", "int4_mixed", 1, plan.max_context + 1).fits


def test_context_past_the_model_limit_does_not_fit():
    plan = _plan("maverick", "fp8", 8, 2 * 1_048_576)
    assert not plan.fits and "max_position_embeddings" in plan.reason
    assert plan.max_context == 1_048_576


def test_small_presets_plan_without_vision():
    plan = plan_deployment(load_model_spec("debug"), weights="int4", gpu=GpuType(name="tiny", memory_bytes=10**8),
                           context=1024)
    assert plan.fits and "vision" not in plan.params_by_component


@pytest.mark.parametrize("field,value", [("context", -1), ("context", 0), ("gpus", 0), ("batch", -2)])
def test_non_positive_inputs_are_rejected(field, value):
    kwargs = {"gpus": 1, "context": 8192, "batch": 1, field: value}
    with pytest.raises(UserError, match=f"--{field} {value}"):
        plan_deployment(load_model_spec("tiny"), weights="bf16", gpu=H100, **kwargs)


def test_unknown_format_names_the_choices():
    with pytest.raises(UserError, match=r"'int2'.*int4_mixed"):
        _plan("scout", "int2", 1, 8192)


def test_no_sequence_fits_past_the_models_position_limit_whatever_the_memory():
    spec = load_model_spec("tiny")
    past = spec.config.max_position_embeddings + 1
    plan = plan_deployment(spec, weights="bf16", gpu=H100, context=past)
    assert not plan.fits and "max_position_embeddings" in plan.reason
    assert plan.max_batch_at_context == 0
