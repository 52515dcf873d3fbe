from pathlib import Path

import pytest
import yaml
from search_support import make_spec

from sonar.search.space import sample_architectures
from sonar.search.spec import SpecError, load_spec, parse_spec

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_valid_spec_parses_with_defaults():
    spec = parse_spec(make_spec())
    assert spec.scheduler == "sonar" and spec.eta == 3
    assert {p.name for p in spec.arch.params} == {"hidden_size", "num_hidden_layers", "num_attention_heads",
                                                  "num_experts_per_tok", "intermediate_size"}
    assert spec.objective.latency_s == 0.004


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("search*.yaml")), ids=lambda p: p.name)
def test_examples_validate(path):
    assert load_spec(path).budget.candidates >= 1


def _error(raw) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    return str(info.value)


@pytest.mark.parametrize(("change", "key"), [
    ({"arch": {"hidden_size": [32, 64, "big"]}}, "arch.hidden_size.choices[2]: 'big' is not an integer"),
    ({"arch": {"hidden_sizes": [32]}}, "arch.hidden_sizes: not a ModelConfig field"),
    ({"arch": {"attn_scale": {"float": [0, 1], "log": True}}}, "arch.attn_scale.float[0]: a log scale needs"),
    ({"arch": {"rope_theta": {"float": [0, 1e6]}}}, "arch.rope_theta.float[0]: rope_theta=0.0: must be > 0"),
    ({"arch": {"hidden_size": [0, 64]}}, "arch.hidden_size.choices[0]: hidden_size=0: must be >= 1"),
    ({"arch": {"head_dim": [16, 33]}}, "arch.head_dim.choices[1]: head_dim=33: must be even"),
    ({"arch": {"attention_chunk_size": {"int": [0, 64]}}}, "arch.attention_chunk_size.int[0]: attention_chunk_size=0:"
                                                           " chunk size must be >= 1 (or None)"),
    ({"arch": {"num_hidden_layers": {"int": [6, 2]}}}, "arch.num_hidden_layers.int: low 6 > high 2"),
    ({"arch": {"rules": ["hidden_size %% heads == 0"]}}, "arch.rules[0]:"),
    ({"arch": {"rules": ["__import__('os')"]}}, "arch.rules[0]:"),
    ({"arch": {"rules": ["hidden_size"]}}, "arch.rules[0]: 'hidden_size' is not a condition"),
    ({"arch": {"rules": ["hidden_size == 64 and hidden_size - 512"]}}, "arch.rules[0]:"),
    ({"arch": {"num_local_experts": {"choices": [2], "when": "3"}}}, "arch.num_local_experts.when: '3' is not a"),
    ({"arch": {"num_local_experts": {"choices": [2], "when": "depth > 2"}}},
     "arch.num_local_experts.when: ['depth'] are not ModelConfig fields"),
    ({"budget": {"max_steps": "many"}}, "budget.max_steps: 'many' is not an integer"),
    ({"budget": {"min_trials": 99}}, "budget.min_trials: 99 exceeds max_trials=27"),
    ({"objective": {"kind": "constraint"}}, "objective.latency_s: required in constraint mode"),
    ({"objective": {"kind": "best"}}, "objective.kind: 'best' is not one of"),
    ({"eta": 1}, "eta: 1 must be >= 2"),
    ({"executor": {"kind": "slurm"}}, "executor.kind: 'slurm' is not one of"),
    ({"system": {"schemes": "int8"}}, "system.schemes: expected a non-empty list"),
    ({"workload": {"kind": "decode", "ctx": 1}}, "workload.ctx: unknown key"),
    ({"workload": {"kind": "sideways"}}, "workload: workload 'sideways:'"),
    ({"system": {"weight_format": ["int8"]}}, "system.weight_format: not a system knob"),
    ({"system": {"schemes": ["int3"]}}, "system.schemes[0]: 'int3' is not a weight scheme"),
    ({"targets": [{"name": "gpu", "resources": {"gpu_node": -1}}]}, "targets[0].resources.gpu_node: -1 must be > 0"),
    ({"colour": "blue"}, "colour: unknown key"),
    ({"data": {"path": "/no/such/corpus.txt"}}, "data.path: corpus path '/no/such/corpus.txt' does not exist"),
])
def test_errors_point_at_the_key(change, key):
    assert _error(make_spec(**change)).startswith(key.replace("%%", "%"))


@pytest.mark.parametrize("rule", ["use_qk_norm", "not use_qk_norm or hidden_size >= 64", "True",
                                  "hidden_size % 64 == 0 and num_local_experts > 1"])
def test_conditions_that_are_comparisons_or_true_false_fields_are_taken(rule):
    assert parse_spec(make_spec(arch={"rules": [rule]})).arch.rules == (rule,)


def test_unsatisfiable_space_is_rejected_before_compute_with_the_reasons_its_draws_failed():
    raw = make_spec(arch={"hidden_size": [36], "num_attention_heads": [8], "rules": []})
    error = _error(raw)
    assert error.startswith("arch: no valid architecture in 200 draws: 200x ModelConfig: hidden_size=36 is not "
                            "divisible by num_attention_heads=8")
    ruled_out = _error(make_spec(arch={"hidden_size": [32, 64], "rules": ["hidden_size > 100"]}))
    assert ruled_out == "arch: no valid architecture in 200 draws: 200x rule 'hidden_size > 100' does not hold"


def test_an_int_step_wider_than_its_range_or_on_a_float_range_is_refused():
    assert _error(make_spec(arch={"hidden_size": {"int": [32, 64], "step": 1000}})).startswith(
        "arch.hidden_size.step: 1000 is wider than the range [32, 64]")
    assert _error(make_spec(arch={"rope_theta": {"float": [1e4, 1e6], "step": 2}})).startswith(
        "arch.rope_theta.step: a float range is drawn continuously")


def test_an_int_range_draws_only_points_of_its_step_grid():
    space = parse_spec(make_spec(arch={"intermediate_size": {"int": [64, 200], "step": 64}, "rules": []})).arch
    drawn = {m.intermediate_size for m in sample_architectures(space, seed=0, count=30)}
    assert drawn == {64, 128, 192}  # 200 lies off the grid: never drawn, though the range reaches it


def test_sampled_architectures_obey_rules_and_model_validation():
    spec = parse_spec(make_spec())
    configs = sample_architectures(spec.arch, seed=3, count=12)
    assert len(configs) == len(set(configs)) == 12
    for config in configs:
        assert config.hidden_size % config.num_attention_heads == 0
        assert config.hidden_size // config.num_attention_heads >= 8
        assert 2 <= config.num_hidden_layers <= 6
        assert config.intermediate_size in range(64, 257, 32)
    assert sample_architectures(spec.arch, seed=3, count=12) == configs
    assert sample_architectures(spec.arch, seed=4, count=12) != configs


def test_condition_leaves_base_value_where_false():
    raw = make_spec(arch={"num_local_experts": {"choices": [2, 8], "when": "num_hidden_layers > 100"}})
    spec = parse_spec(raw)
    base = spec.arch.base_config().num_local_experts
    assert all(c.num_local_experts == base for c in sample_architectures(spec.arch, seed=0, count=8))


def test_load_spec_reports_bad_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("budget: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)
    path.write_text(yaml.safe_dump(make_spec()))
    assert load_spec(path).name == "test"


def test_rules_switch_scheduler_rules_and_reject_unknown_names():
    from sonar.search.schedulers import make_scheduler

    raw = make_spec(rules={"eliminate": False})
    assert make_scheduler(parse_spec(raw)).rules.eliminate is False
    with pytest.raises(SpecError, match="unknown rules"):
        parse_spec(make_spec(rules={"bogus": False}))
    with pytest.raises(SpecError, match="not true or false"):
        parse_spec(make_spec(rules={"eliminate": "no"}))
