"""Prepacked CPU linears (fbgemm dynamic int8, oneDNN blocked fp32): parity, saving, their validity rules."""

import pytest
import torch
from torch import nn

from sonar.model import build_model, preset
from sonar.systems.apply import transform
from sonar.systems.config import WEIGHT_SCHEMES, SystemConfig, SystemConfigError
from sonar.systems.prepacked import PrepackedLinear
from sonar.systems.roofline import active_weight_bytes
from sonar.systems.space import check


@pytest.fixture(scope="module")
def debug_model():
    return build_model(preset("debug"), seed=0).eval()


def _linear(in_f=96, out_f=64):
    torch.manual_seed(0)
    return nn.Linear(in_f, out_f, bias=False)


@pytest.mark.parametrize(("fmt", "tolerance"), [("fp32_mkldnn", 1e-6), ("int8_fbgemm", 0.03)])
def test_prepacked_linear_matches_fp32_on_any_leading_shape(fmt, tolerance):
    linear = _linear()
    x = torch.randn(2, 5, 96)
    with torch.inference_mode():
        got, want = PrepackedLinear(linear, fmt)(x), linear(x)
    assert got.shape == want.shape and got.dtype == torch.float32
    assert float((got - want).norm() / want.norm()) < tolerance


@pytest.mark.parametrize("fmt", ["fp32_mkldnn", "int8_fbgemm"])
def test_prepacked_linear_saves_its_weight_as_out_in(fmt):
    linear = _linear()
    state = PrepackedLinear(linear, fmt).state_dict()
    assert list(state) == ["weight"] and state["weight"].shape == (64, 96)
    # int8 codes round each weight by at most half a step of its row's scale
    step = linear.weight.abs().amax(dim=1, keepdim=True) / 127
    assert ((state["weight"] - linear.weight).abs() <= step / 2 + 1e-7).all()


def test_roofline_counts_int8_fbgemm_as_one_byte_per_weight(debug_model):
    fp32 = active_weight_bytes(transform(debug_model, SystemConfig(**WEIGHT_SCHEMES["fp32_mkldnn"])))
    int8 = active_weight_bytes(transform(debug_model, SystemConfig(**WEIGHT_SCHEMES["int8_fbgemm"])))
    assert fp32 == pytest.approx(active_weight_bytes(debug_model))
    assert int8 < 0.6 * fp32  # non-routed linears at a quarter, routed experts and norms still fp32


@pytest.mark.parametrize(("changes", "rule"), [
    ({"weights_routed": "int8_fbgemm", "moe_dispatch": "packed_grouped"}, "routed experts are stacked banks"),
    ({"weights_routed": "fp32_mkldnn", "moe_dispatch": "packed_grouped"}, "routed experts are stacked banks"),
    ({"weights_dense": "int8_fbgemm", "compile": "default", "moe_dispatch": "gather"}, "opaque to torch.compile"),
    ({"weights_head": "fp32_mkldnn", "compile": "default", "moe_dispatch": "gather"}, "opaque to torch.compile"),
])
def test_prepacked_rules_name_the_broken_rule(debug_model, changes, rule):
    with pytest.raises(SystemConfigError, match=rule):
        check(SystemConfig(**changes), debug_model.config)


def test_prepacked_formats_are_cpu_only(debug_model, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(SystemConfigError, match="CPU kernels"):
        check(SystemConfig(weights_attention="int8_fbgemm", target="cuda"), debug_model.config)


def test_freezing_compile_modes_are_cpu_only(debug_model, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for mode in ("freezing", "freezing-cpp-wrapper"):
        with pytest.raises(SystemConfigError, match="prepacking weights for the CPU"):
            check(SystemConfig(compile=mode, moe_dispatch="gather", target="cuda"), debug_model.config)


@pytest.mark.slow  # two Inductor compiles with freezing (prefill unused; decode ~10 s here, more when loaded)
def test_freezing_decode_matches_eager(debug_model):
    from sonar.systems.apply import prepare
    from sonar.systems.quality import logits_error
    from sonar.systems.workload import Session, Workload

    workload = Workload.parse("decode:ctx=40")
    outputs = []
    for mode in ("eager", "freezing"):
        session = Session(prepare(debug_model, SystemConfig(compile=mode, moe_dispatch="gather")), workload)
        outputs.append([session.call() for _ in range(3)])
    for eager, frozen in zip(*outputs, strict=True):
        assert logits_error(frozen, eager) < 1e-4
