"""Invalid configs and workloads are rejected before running, with a message naming value and rule."""

import os

import pytest
import torch

from sonar.errors import UserError
from sonar.model import preset
from sonar.systems.config import SystemConfig, SystemConfigError, uniform_weights
from sonar.systems.space import SearchSpace, check, is_valid
from sonar.systems.workload import Workload

DEBUG = preset("debug")


@pytest.mark.parametrize("changes, fragment", [
    ({"weights_routed": "int3"}, "weights_routed='int3'"),
    ({"compile": "turbo"}, "compile='turbo'"),
    ({"int4_group_size": 48}, "int4_group_size=48"),
    ({"threads": 0}, "threads=0"),
    ({"threads": 100000}, "threads=100000"),  # torch's thread pool would segfault the process
    ({"batch_size": 0}, "batch_size=0"),
    ({"target": "tpu"}, "target='tpu'"),
    # unknown names are refused when the config is built, naming the registered ones
    ({"moe_dispatch": "warp"}, "moe_dispatch='warp': unknown; known: dense, gather, grouped, packed_gather"),
    ({"attention": "flash9"}, "attention='flash9': unknown; known: chunk_blocked, eager, sdpa"),
    ({"attention": "sdpa@flash:cpu"}, "attention='sdpa@flash:cpu': unknown"),  # pinned: the sdpa_backend knob
    ({"threads": "x"}, "threads='x'"),
    ({"threads": 1.5}, "threads=1.5"),
    ({"threads": True}, "threads=True"),
    ({"batch_size": "2"}, "batch_size='2'"),
    ({"int4_group_size": 64.0}, "int4_group_size=64.0"),
    ({"moe_dispatch": 3}, "moe_dispatch=3"),
    ({"compile": None}, "compile=None"),
    ({"weights_head": ["int8"]}, "weights_head="),
])
def test_bad_knob_values_rejected(changes, fragment):
    with pytest.raises(SystemConfigError, match=fragment.replace("(", r"\(")) as err:
        SystemConfig(**changes)
    assert isinstance(err.value, UserError)


@pytest.mark.parametrize("config, fragment", [
    (SystemConfig(weights_routed="int8", moe_dispatch="grouped"), "need a packed dispatch"),
    (SystemConfig(weights_routed="fp32_io"), "already stored"),
    (SystemConfig(weights_routed="int4", int4_group_size=32, moe_dispatch="packed_gather"), "cannot be gathered"),
    # debug experts have 96 hidden features: 128-groups do not divide them.
    (SystemConfig(weights_routed="int4", int4_group_size=128, moe_dispatch="packed_grouped"), "not divisible"),
    (SystemConfig(threads=(os.cpu_count() or 1) + 1), "cores"),  # a valid count, more than this machine has
    (SystemConfig(compile="default", moe_dispatch="grouped"), "recompile as routing changes"),
])
def test_model_and_target_rules(config, fragment):
    with pytest.raises(SystemConfigError, match=fragment):
        check(config, DEBUG)


def test_int4_output_features_must_tile_by_16():
    odd = DEBUG.replace(vocab_size=520 + 4)  # the head's 524 outputs are not a multiple of 16
    with pytest.raises(SystemConfigError, match="multiple of 16"):
        check(SystemConfig(weights_head="int4", int4_group_size=32), odd)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the guard on a machine without CUDA")
def test_cuda_target_guarded_without_a_gpu():
    with pytest.raises(SystemConfigError, match="no CUDA device"):
        check(SystemConfig(target="cuda"), DEBUG)


def test_batch_size_only_for_throughput():
    config = SystemConfig(batch_size=4)
    with pytest.raises(SystemConfigError, match="throughput workloads only"):
        check(config, DEBUG, workload_kind="decode")
    check(config, DEBUG, workload_kind="throughput")


def test_space_holds_only_valid_configs():
    space = SearchSpace(compiles=("eager", "default"), threads=(1, None))
    configs = space.configs(DEBUG, workload_kind="decode")
    assert configs and all(is_valid(c, DEBUG, workload_kind="decode") for c in configs)
    assert len({repr(c) for c in configs}) == len(configs)
    assert not any(c.weights_routed == "int4" and c.moe_dispatch == "packed_gather" for c in configs)
    assert SystemConfig(**uniform_weights("int8"), moe_dispatch="grouped") not in configs


@pytest.mark.parametrize("knob,values", [("schemes", ("fp32", "int8", "fp32")), ("threads", (1, None, 1)),
                                          ("compiles", ("eager", "eager"))])
def test_a_repeated_knob_value_is_refused_as_the_spec_refuses_it(knob, values):
    with pytest.raises(SystemConfigError, match=rf"SearchSpace.{knob}: .* repeats"):
        SearchSpace(**{knob: values})


def test_unknown_scheme_rejected():
    with pytest.raises(SystemConfigError, match="unknown"):
        SearchSpace(schemes=("fp32", "int2"))


@pytest.mark.parametrize("text, expected", [
    ("decode:ctx=256", Workload(kind="decode", context=256, batch=1)),
    ("decode:ctx=128,b=4", Workload(kind="decode", context=128, batch=4)),
    ("prefill:b=1,t=512", Workload(kind="prefill", batch=1, tokens=512)),
    ("throughput:ctx=64", Workload(kind="throughput", context=64)),
])
def test_workload_parse(text, expected):
    assert Workload.parse(text) == expected
    assert Workload.parse(Workload.parse(text).label()) == expected


@pytest.mark.parametrize("text, fragment", [
    ("train:ctx=1", "kind 'train'"), ("decode:t=5", "'t=5'"), ("prefill:b=x", "b='x'"), ("decode:ctx=0", "context=0"),
    ("decode:ctx=8,ctx=16", "ctx is given twice"),
])
def test_workload_parse_errors(text, fragment):
    with pytest.raises(UserError, match=fragment):
        Workload.parse(text)


def test_config_round_trips_and_rejects_unknown_keys():
    config = SystemConfig(**uniform_weights("bf16"), moe_dispatch="packed_gather", threads=1)
    assert SystemConfig.from_dict(config.to_dict()) == config
    with pytest.raises(SystemConfigError, match="unknown system knobs"):
        SystemConfig.from_dict({"warp_speed": 9})
