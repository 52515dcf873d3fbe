import json

import pytest

from random_model_configs import random_config
from sonar.checkpoint import from_hf, to_hf
from sonar.model import ConfigError, ModelConfig, preset
from sonar.model.layout import layer_plans
from sonar.model.params import count_parameters


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(hidden_size=100, num_attention_heads=8), "not divisible by num_attention_heads"),
        (dict(num_attention_heads=8, num_key_value_heads=3), "does not divide"),
        (dict(num_local_experts=4, num_experts_per_tok=5), "top-k cannot exceed"),
        (dict(attention_chunk_size=0), "chunk size must be >= 1"),
        (dict(no_rope_layer_interval=0), "NoPE interval must be >= 1"),
        (dict(num_hidden_layers=0), "num_hidden_layers=0"),
        (dict(moe_layers=(0, 9)), "outside 0..3"),
        (dict(head_dim=7), "even"),
        (dict(num_hidden_layers=10**12), "num_hidden_layers=1000000000000: must be <= 4,096"),
        (dict(rope_theta=float("inf")), "rope_theta=inf: must be finite"),
        (dict(use_qk_norm="yes"), "must be true or false"),
        (dict(rope_scaling=5), "rope_scaling=5: must be a RopeScaling mapping or None"),
    ],
)
def test_bad_values_are_named_with_their_rule(changes, message):
    with pytest.raises(ConfigError, match=message):
        preset("debug").replace(**changes)


def test_scout_layer_plan_matches_the_published_layout():
    plans = layer_plans(preset("scout"))
    assert [p.index for p in plans if not p.use_rope] == list(range(3, 48, 4))
    assert all(p.is_moe for p in plans)
    assert all(p.chunked_mask == p.use_rope == p.use_qk_norm for p in plans)
    assert all(p.temperature_tuning == (not p.use_rope) for p in plans)


def test_maverick_interleaves_dense_and_moe_without_qk_norm():
    plans = layer_plans(preset("maverick"))
    assert [p.index for p in plans if p.is_moe] == list(range(1, 48, 2))
    assert not any(p.use_qk_norm for p in plans)


def test_explicit_layer_lists_override_the_intervals():
    cfg = preset("debug").replace(nope_layers=(0,), moe_layers=(2, 3))
    plans = layer_plans(cfg)
    assert [p.use_rope for p in plans] == [False, True, True, True]
    assert [p.is_moe for p in plans] == [False, False, True, True]


@pytest.mark.parametrize(
    "name, total, active",
    [("scout", 107.8e9, 17.2e9), ("maverick", 400.6e9, 17.2e9)],
)
def test_parameter_counts_match_the_published_models(name, total, active):
    counts = count_parameters(preset(name))
    assert counts.total == pytest.approx(total, rel=0.005)
    assert counts.active == pytest.approx(active, rel=0.005)


@pytest.mark.parametrize("name", ["debug", "tiny", "small", "scout", "maverick"])
def test_hf_config_round_trip(name):
    cfg = preset(name)
    assert from_hf(json.loads(json.dumps(to_hf(cfg)))) == cfg


def test_global_attention_round_trips_through_a_config_transformers_can_run():
    cfg = preset("debug").replace(attention_chunk_size=None)
    hf = json.loads(json.dumps(to_hf(cfg)))
    # transformers builds a chunked mask whatever the layer types, so the file names a size no layer uses
    assert hf["attention_chunk_size"] == cfg.max_position_embeddings
    assert set(hf["layer_types"]) == {"full_attention"}
    assert from_hf(hf) == cfg
    chunked = to_hf(preset("debug"))
    assert from_hf({**chunked, "layer_types": ["full_attention"] * cfg.num_hidden_layers}) == cfg
    with pytest.raises(ConfigError, match="layer_types"):  # any other mix is not one our layer plan can hold
        from_hf({**chunked, "layer_types": ["chunked_attention"] * cfg.num_hidden_layers})


@pytest.mark.parametrize("all_nope", [dict(nope_layers=(0, 1, 2, 3)), dict(no_rope_layer_interval=1)])
def test_global_attention_on_nope_only_layers_round_trips(all_nope):
    # Every layer NoPE: the layer types were all "full_attention" either way, so the size written for None
    # (max_position_embeddings) read back as a chunk size (random_config seeds 1021, 1027, 1047, ...)
    cfg = preset("debug").replace(attention_chunk_size=None, **all_nope)
    assert not any(plan.use_rope for plan in layer_plans(cfg))
    assert from_hf(json.loads(json.dumps(to_hf(cfg)))) == cfg
    sized = cfg.replace(attention_chunk_size=16)  # a size the file states otherwise stays
    assert from_hf(json.loads(json.dumps(to_hf(sized)))) == sized


def test_a_layer_list_is_kept_in_one_form_per_meaning():
    cfg = preset("debug")  # 4 layers, NoPE every 4th, MoE every 2nd
    assert cfg.replace(moe_layers=(3, 0)).moe_layers == (0, 3)
    assert cfg.replace(moe_layers=(3, 1), nope_layers=(3,)) == cfg  # what the intervals give
    assert cfg.replace(nope_layers=()).nope_layers == ()


@pytest.mark.parametrize("seed", [2, 53, 68, *range(1000, 1100)])
def test_random_configs_round_trip_through_config_json_field_for_field(seed):
    # An explicit list equal to its interval's read back as None, and an unsorted one sorted: about 9% of
    # random_config draws (seeds 2, 53, 68 among them) came back unequal to the config that was saved
    cfg = random_config(seed)
    assert from_hf(json.loads(json.dumps(to_hf(cfg)))) == cfg
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_too_few_no_rope_flags_are_refused_as_transformers_cannot_build_them():
    hf = to_hf(preset("debug"))
    del hf["layer_types"]
    with pytest.raises(ConfigError, match=r"no_rope_layers=\[1, 1\]: 2 flags for num_hidden_layers=4"):
        from_hf({**hf, "no_rope_layers": [1, 1]})  # read as all-RoPE before; transformers: IndexError


def test_hf_config_in_the_transformers_4x_form_is_read():
    hf = to_hf(preset("scout"))
    rope = hf.pop("rope_parameters")
    hf["rope_theta"] = rope.pop("rope_theta")
    hf["rope_scaling"] = rope
    hf["no_rope_layers"] = []
    hf["attn_temperature_tuning"] = 4
    assert from_hf(hf) == preset("scout")


def test_dict_round_trip():
    cfg = preset("scout")
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_vision_tower_count_matches_the_published_size():
    from sonar.model.vision_config import VisionConfig, count_vision_parameters

    assert count_vision_parameters(VisionConfig(), preset("scout").hidden_size) == pytest.approx(0.87e9, rel=0.01)
