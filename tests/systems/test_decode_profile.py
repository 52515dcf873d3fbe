"""The decode-step profile: KV bytes a step reads, and the split of a step's time by op class."""

import dataclasses

import pytest
import torch

from sonar.errors import UserError
from sonar.model import build_model, preset
from sonar.model.layout import layer_plans
from sonar.systems.config import SystemConfig
from sonar.systems.decode_profile import (
    CLASSES,
    COMPILED_CLASSES,
    _compiled_class,
    kv_bytes_per_token,
    profile_compiled_decode,
    profile_decode,
)
from sonar.systems.workload import DECODE_WINDOW, Workload


@pytest.fixture(scope="module")
def debug_model():
    return build_model(preset("debug"), seed=0).eval()


def test_kv_bytes_count_global_layers_at_context_and_chunked_layers_at_their_ring(debug_model):
    cfg = debug_model.config
    workload = Workload.parse("decode:ctx=100")
    per_slot = 2 * cfg.num_key_value_heads * cfg.resolved_head_dim * 4  # K and V, fp32
    slots = [cfg.attention_chunk_size if p.chunked_mask else 100 + DECODE_WINDOW for p in layer_plans(cfg)]
    assert kv_bytes_per_token(debug_model, workload) == per_slot * sum(slots)


@pytest.mark.parametrize("config", [SystemConfig(threads=1),
                                    SystemConfig(weights_routed="int8", moe_dispatch="packed_grouped", threads=1)])
def test_profile_charges_a_decode_step_to_every_class_it_runs(debug_model, config):
    threads = torch.get_num_threads()
    result = profile_decode(debug_model, config, Workload.parse("decode:ctx=64"), steps=3)
    assert torch.get_num_threads() == threads  # the config's thread count is undone
    assert set(result["seconds"]) == set(CLASSES)
    for kind in ("gemv", "attention", "routing", "norm/elementwise"):
        assert result["seconds"][kind] > 0, kind


@pytest.mark.slow  # compiles the debug model's decode step (20-60 s here)
def test_a_compiled_step_is_split_into_its_kernels_guards_and_the_rest(debug_model):
    config = SystemConfig(weights_routed="int8", moe_dispatch="packed_gather", compile="default", threads=1)
    result = profile_compiled_decode(debug_model, config, Workload.parse("decode:ctx=64"), steps=3)
    assert set(result["seconds"]) == set(COMPILED_CLASSES) and result["profiled"] == config.label()
    assert result["seconds"]["gemv"] > 0  # the int8 experts' packed matmul is an extern kernel
    assert result["seconds"]["compiled kernels"] > 0 and result["seconds"]["guards"] > 0
    assert 0.99 < sum(result["fraction"].values()) < 1.01
    # compile=aot: its package is opaque to the profiler, so its compile=default twin is split instead
    aot = dataclasses.replace(config, compile="aot")
    twin = profile_compiled_decode(debug_model, aot, Workload.parse("decode:ctx=64"), steps=3)
    assert twin["profiled"] == f"{aot.label()} as its compile=default twin"
    assert twin["seconds"]["gemv"] > 0 and twin["seconds"]["guards"] > 0


def test_compiled_profile_classes_name_the_kernels_it_sees():
    assert _compiled_class("aten::_weight_int8pack_mm") == "gemv"
    assert _compiled_class("aten::_scaled_dot_product_flash_attention_for_cpu") == "attention"
    assert _compiled_class("## Call CompiledFxGraph fceezr7mwz ##") == "compiled kernels"
    assert _compiled_class("TorchDynamo Cache Lookup") == "guards"
    assert _compiled_class("aten::empty") is None  # left to `outside`


def test_an_eager_config_is_not_profiled_as_compiled(debug_model):
    with pytest.raises(UserError, match="not a compiled config"):
        profile_compiled_decode(debug_model, SystemConfig(), Workload.parse("decode:ctx=64"))


@pytest.mark.parametrize("argv, message", [
    (["--config", "notjson"], "--config: not JSON"),
    (["--config", "[1]"], "a JSON object of system knobs is expected"),
    (["--config", '{"batch_size": "2"}'], "batch_size='2': must be a whole number"),
    (["--archs", "tiny,nope"], "--archs: unknown ['nope']"),
    (["--workload", "decode:ctx=x"], "ctx='x' must be an integer"),
])
def test_bad_arguments_are_one_line_errors(argv, message, monkeypatch, capsys):
    from sonar.systems import decode_profile

    monkeypatch.setattr("sys.argv", ["decode_profile", *argv])
    monkeypatch.setattr(decode_profile, "profile_decode", lambda *a, **k: pytest.fail("profiled a bad request"))
    with pytest.raises(SystemExit) as exit_info:
        decode_profile.main()
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
