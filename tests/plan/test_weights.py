"""Weight inventory and formats: parameter counts against published sizes, bytes per format with scales."""

import pytest

from sonar.model.params import count_parameters
from sonar.model.presets import PRESETS, preset
from sonar.model.vision_config import VisionConfig, count_vision_parameters
from sonar.plan.formats import BF16, FORMATS, FP8_PER_ROW, INT4_GROUP128, get_format, weight_bytes_by_component
from sonar.plan.source import load_model_spec
from sonar.plan.weights import VISION, params_by_component, weight_inventory


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_inventory_matches_count_parameters(name):
    config = preset(name)
    counted = params_by_component(weight_inventory(config))
    expected = {k: v for k, v in count_parameters(config).by_component().items() if v}
    assert counted == expected


def test_vision_tower_is_counted_for_multimodal_presets():
    scout = load_model_spec("scout")
    assert scout.vision is not None and load_model_spec("tiny").vision is None
    counted = params_by_component(weight_inventory(scout.config, scout.vision))
    assert counted[VISION] == count_vision_parameters(VisionConfig(), scout.config.hidden_size)


def _params(name):
    spec = load_model_spec(name)
    total = sum(params_by_component(weight_inventory(spec.config, spec.vision)).values())
    return total, count_parameters(spec.config).active


def test_scout_is_109b_total_17b_active():
    total, active = _params("scout")
    assert 108.0e9 < total < 109.5e9  # "109B", vision tower included
    assert 16.5e9 < active < 17.5e9


def test_maverick_is_400b_total_17b_active():
    total, active = _params("maverick")
    assert 399e9 < total < 403e9
    assert 16.5e9 < active < 17.5e9


def test_storage_bytes_include_scales():
    assert BF16.matrix_bytes(10, 256) == 10 * 256 * 2
    assert FP8_PER_ROW.matrix_bytes(10, 256) == 10 * 256 + 10 * 4
    # int4 in groups of 128 with a bf16 scale: 4.125 bits a weight; a partial group still costs a scale.
    assert INT4_GROUP128.matrix_bytes(8, 256) * 8 == 8 * 256 * 4.125
    assert INT4_GROUP128.matrix_bytes(1, 129) == 65 + 2 * 2


def _bytes(name, fmt):
    spec = load_model_spec(name)
    return weight_bytes_by_component(weight_inventory(spec.config, spec.vision), get_format(fmt), spec.config)


def test_bf16_is_two_bytes_per_parameter():
    spec = load_model_spec("scout")
    params = params_by_component(weight_inventory(spec.config, spec.vision))
    assert _bytes("scout", "bf16") == {k: 2 * v for k, v in params.items()}


def test_int4_mixed_quantizes_routed_and_shared_experts_only():
    bf16, int4 = _bytes("scout", "bf16"), _bytes("scout", "int4_mixed")
    for component in ("routed_experts", "shared_experts"):
        assert int4[component] == bf16[component] // 2 * 4.125 / 8  # 4.125 bits a parameter
    for component in ("attention", "embedding", "lm_head", "router", "vision"):
        assert int4[component] == bf16[component]


def test_fp8_mixed_skips_first_and_last_layers():
    config = preset("scout")
    n_layers = config.num_hidden_layers
    routed_per_layer = count_parameters(config).routed_experts // n_layers  # every Scout layer is MoE
    F, D, E = config.intermediate_size, config.hidden_size, config.num_local_experts
    fp8_per_layer = E * (2 * FP8_PER_ROW.matrix_bytes(F, D) + FP8_PER_ROW.matrix_bytes(D, F))
    expected = 2 * 2 * routed_per_layer + (n_layers - 2) * fp8_per_layer
    fp8_mixed = _bytes("scout", "fp8_mixed")
    assert fp8_mixed["routed_experts"] == expected
    assert fp8_mixed["shared_experts"] == _bytes("scout", "bf16")["shared_experts"]


@pytest.mark.parametrize("fmt", ["fp8", "int8", "int4"])
def test_all_linear_formats_cover_attention_but_not_tables(fmt):
    bf16, quant = _bytes("maverick", "bf16"), _bytes("maverick", fmt)
    for component in ("attention", "routed_experts", "shared_experts", "dense_ffn"):
        assert quant[component] < bf16[component] * 0.6
    for component in ("embedding", "lm_head", "norms", "router", "vision"):
        assert quant[component] == bf16[component]


def test_formats_order_by_size():
    totals = {fmt: sum(_bytes("scout", fmt).values()) for fmt in FORMATS}
    assert totals["int4"] < totals["int4_mixed"] < totals["int8"] < totals["fp8"] < totals["fp8_mixed"]
    assert totals["fp8_mixed"] < totals["bf16"]


def test_tied_embeddings_have_no_head():
    config = preset("tiny").replace(tie_word_embeddings=True)
    assert "lm_head" not in params_by_component(weight_inventory(config))
