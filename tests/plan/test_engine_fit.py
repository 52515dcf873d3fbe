"""The engine solver: maxima that fit and one page more that does not, and each assumption's cost."""

import dataclasses

import pytest

from sonar.plan import load_model_spec, parse_gpu
from sonar.plan.calibration import model_weight_bytes
from sonar.plan.engine_fit import EngineMemory, assumptions
from sonar.plan.engine_profile import get_profile

SCOUT = load_model_spec("scout")


def memory(engine="vllm", version="0.8", gpus=8, gpu="h100-80gb", **changes):
    profile = dataclasses.replace(get_profile(engine, version), **changes)
    return EngineMemory.build(SCOUT, profile, gpu=parse_gpu(gpu), gpus=gpus,
                              weight_bytes=model_weight_bytes(SCOUT, "bf16"), kv_dtype="bf16")


@pytest.mark.parametrize(("engine", "version"), [("vllm", "0.8"), ("vllm", "0.10"), ("sglang", "0.4")])
def test_the_maximum_fits_and_one_page_more_does_not(engine, version):
    m = memory(engine, version)
    best, page = m.max_context_by_memory(), m.profile.block_size
    assert best % page == 0
    assert m.fits(best) and not m.fits(best + page)


def test_capping_chunked_layers_is_what_separates_the_vllm_versions():
    old, new = memory("vllm", "0.8"), memory("vllm", "0.10")
    assert new.max_context() > 3 * old.max_context()
    lost = {a.name: a for a in assumptions(old)}["chunked_kv_not_capped"]
    capped = memory("vllm", "0.8", caps_chunked_kv=True)
    assert lost.bit and lost.tokens_lost == capped.max_context() - old.max_context()
    assert not {a.name: a for a in assumptions(new)}["chunked_kv_not_capped"].bit


def test_kv_heads_are_replicated_past_one_head_per_gpu():
    replicated, split = memory(gpus=16), memory(gpus=16, replicate_kv_heads=False)
    assert replicated.kv_per_layer_per_token == 2 * split.kv_per_layer_per_token
    assert {a.name: a for a in assumptions(replicated)}["kv_head_replication"].bit
    assert not {a.name: a for a in assumptions(memory(gpus=8))}["kv_head_replication"].bit


def test_the_batch_that_fits_is_the_largest():
    m = memory()
    n = m.max_batch(131_072)
    assert n > 1 and m.fits(131_072, n) and not m.fits(131_072, n + 1)


def test_the_calibrated_overhead_and_the_fraction_bite_and_a_zero_reserve_does_not():
    bit = {a.name: a.bit for a in assumptions(memory())}
    assert bit["unmodelled_overhead"] and bit["memory_utilization"] and bit["activations"]
    assert not bit["cuda_graph_reserve"] and not bit["max_position_embeddings"]


def test_sglang_activations_must_fit_outside_its_fraction():
    m = memory("sglang", "0.4", max_num_batched_tokens=10**6)
    assert not m.outside_fraction_ok(8192, 1) and not m.fits(8192)
