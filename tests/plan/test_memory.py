"""KV cache arithmetic: the worked Scout figures, chunked layers capped at the chunk size."""

import pytest

from sonar.errors import UserError
from sonar.model.presets import preset
from sonar.plan.memory import KvLayout, Workspace, kv_dtype_bytes, kv_heads_per_gpu, reserve_bytes

KIB = 1024
TEN_M = 10_485_760


@pytest.fixture
def scout_kv():
    return KvLayout.from_config(preset("scout"), "bf16")


def test_scout_layer_split(scout_kv):
    assert (scout_kv.n_global, scout_kv.n_chunked, scout_kv.chunk_size) == (12, 36, 8192)


def test_four_kib_per_token_per_global_layer(scout_kv):
    assert scout_kv.per_layer_per_token == 4 * KIB  # 2 x 8 heads x 128 x 2 bytes


def test_global_layers_hold_48_kib_per_token_and_515_gb_at_10m(scout_kv):
    assert scout_kv.global_per_token == 48 * KIB
    assert scout_kv.global_bytes(TEN_M) == pytest.approx(515e9, rel=0.002)


def test_chunked_layers_hold_1_2_gb_whatever_the_context(scout_kv):
    at_10m = scout_kv.chunked_bytes(TEN_M)
    assert at_10m == pytest.approx(1.2e9, rel=0.01)
    assert scout_kv.chunked_bytes(100_000) == at_10m == scout_kv.chunked_bytes(8192)
    assert scout_kv.chunked_bytes(4096) == at_10m // 2  # below a chunk, the cache holds the context


def test_ignoring_chunking_counts_about_2_tb(scout_kv):
    naive = scout_kv.bytes_ignoring_chunking(TEN_M)
    assert naive == pytest.approx(2.06e12, rel=0.01)
    assert scout_kv.bytes(TEN_M) == pytest.approx(516e9, rel=0.002)
    assert naive > 3.9 * scout_kv.bytes(TEN_M)


def test_batch_scales_the_cache(scout_kv):
    assert scout_kv.bytes(50_000, batch=3) == 3 * scout_kv.bytes(50_000)


def test_fp8_kv_halves_the_cache(scout_kv):
    fp8 = KvLayout.from_config(preset("scout"), "fp8")
    assert 2 * fp8.bytes(TEN_M) == scout_kv.bytes(TEN_M)


def test_no_chunk_size_means_every_layer_is_global():
    kv = KvLayout.from_config(preset("scout").replace(attention_chunk_size=None), "bf16")
    assert (kv.n_global, kv.n_chunked, kv.chunk_size) == (48, 0, None)
    assert kv.bytes(TEN_M) == kv.bytes_ignoring_chunking(TEN_M)


def test_kv_heads_split_then_replicate_over_gpus():
    config = preset("scout")  # 8 KV heads
    assert [kv_heads_per_gpu(config, n) for n in (1, 2, 3, 8, 16)] == [8, 4, 3, 1, 1]


def test_workspace_saturates_at_the_prefill_budget():
    ws = Workspace.from_config(preset("scout"), prefill_tokens=8192)
    assert ws.bytes(4096) < ws.bytes(8192) == ws.bytes(TEN_M)
    assert ws.bytes(4096, batch=2) == ws.bytes(8192) + ws.logits_bytes(1)


def test_reserve_default_and_errors():
    assert reserve_bytes(80 * 10**9, None) == 8 * 10**9
    assert reserve_bytes(80 * 10**9, 5) == 5 * 10**9
    with pytest.raises(UserError, match="-1"):
        reserve_bytes(80 * 10**9, -1)
    with pytest.raises(UserError, match="below"):
        reserve_bytes(80 * 10**9, 80)
    with pytest.raises(UserError, match="below"):  # a huge float is refused, not overflowed into int()
        reserve_bytes(80 * 10**9, 1e300)


def test_unknown_kv_dtype_names_the_choices():
    with pytest.raises(UserError, match=r"'int3'.*bf16.*fp8"):
        kv_dtype_bytes("int3")
