"""SystemConfig(target="cuda"): every weight scheme either runs within its format's CPU tolerance or is
refused up front with SystemConfigError; a compiled decode step runs on without recompiling; the
tuner measures trials on the device with finite latencies.
"""

import math

import pytest
import torch
from cuda_device import DEVICE, ON_DEVICE

from format_tolerance import FORMAT_TOLERANCE
from prefill_step import knob_fixtures, prefill_and_step
from sonar.interfaces import Candidate
from sonar.model import preset
from sonar.systems.apply import prepare, transform
from sonar.systems.config import WEIGHT_SCHEMES, SystemConfig, SystemConfigError
from sonar.systems.quality import logits_error
from sonar.systems.space import SearchSpace, check, cuda_kernel_runs, has_cuda_kernel
from sonar.systems.trial import MeasureSettings, Reference
from sonar.systems.tuner import SystemTuner
from sonar.systems.workload import Session, Workload

pytestmark = ON_DEVICE

CASES = [(scheme, "packed_grouped") for scheme in sorted(WEIGHT_SCHEMES)] + [
    (scheme, "packed_gather") for scheme in sorted(WEIGHT_SCHEMES) if WEIGHT_SCHEMES[scheme]["weights_routed"] != "int4"
]

model, ids, reference = knob_fixtures()


def _cuda_refusal(weights: dict, dispatch: str) -> str | None:
    """The message fragment of the rule that refuses these weights on the device, if one does."""
    formats = set(weights.values())
    if weights["weights_routed"] == "fp8_mm" and dispatch != "packed_grouped":
        return "the fp8 GEMM runs per expert"
    if DEVICE != "cuda":
        return "fp8 GEMM is a GPU tensor-core kernel" if "fp8_mm" in formats else None
    if formats & {"int8_fbgemm", "fp32_mkldnn"}:
        return "fbgemm and oneDNN prepacking are CPU kernels"
    if "fp8_mm" in formats and not cuda_kernel_runs("_scaled_mm"):
        return "_scaled_mm with row-wise scales does not run on this GPU"
    if "int4" in formats:
        return "only the CPU int4 packing"
    if "int8" in formats and not has_cuda_kernel("_weight_int8pack_mm"):
        return "no CUDA kernel for torch._weight_int8pack_mm"
    return None


@pytest.mark.parametrize(("scheme", "dispatch"), CASES)
def test_weight_scheme_runs_within_tolerance_or_is_refused(model, ids, reference, scheme, dispatch):
    weights = WEIGHT_SCHEMES[scheme]
    config = SystemConfig(**weights, int4_group_size=32, moe_dispatch=dispatch, target=DEVICE)
    refusal = _cuda_refusal(weights, dispatch)
    if refusal is not None:
        with pytest.raises(SystemConfigError, match=refusal):
            check(config, model.config)
        with pytest.raises(SystemConfigError, match=refusal):
            transform(model, config)
        return
    transformed = transform(model, config)
    assert all(t.device.type == DEVICE for t in [*transformed.parameters(), *transformed.buffers()])
    prefill, step = prefill_and_step(transformed, ids)
    tolerance = max(FORMAT_TOLERANCE[f] for f in weights.values())
    assert torch.isfinite(prefill).all() and torch.isfinite(step).all()
    assert logits_error(prefill, reference[0]) < tolerance
    assert logits_error(step, reference[1]) < tolerance
    # The cached decode step agrees with the full forward of the same transformed model.
    assert logits_error(step, prefill[:, -1]) < max(tolerance, 1e-4) * 0.5 + 1e-4


def test_compiled_decode_runs_without_recompiling(model):
    if DEVICE != "cuda":
        pytest.skip("compiling on this CPU takes minutes; tests/systems has the CPU twin (slow)")
    workload = Workload.parse("decode:ctx=40")
    prepared = prepare(model, SystemConfig(compile="default", moe_dispatch="gather", attention="sdpa",
                                           target=DEVICE))
    session = Session(prepared, workload)
    first = session.first_output()  # compiles the decode step
    with torch.compiler.set_stance("fail_on_recompile"):
        outputs = [session.call() for _ in range(6)]  # later positions reuse the same graph
    torch.cuda.synchronize()
    assert first.device.type == DEVICE and all(torch.isfinite(o).all() for o in outputs)
    assert logits_error(first, Reference(model).output(workload, 1)[0]) < 1e-4


def test_tuner_measures_trials_on_the_device(tmp_path):
    space = SearchSpace(schemes=("fp32", "bf16", "int8_dq"), dispatches=("grouped", "packed_grouped"),
                        attentions=("chunk_blocked", "sdpa"), target=DEVICE)
    settings = MeasureSettings(warmup=1, min_repeats=3, max_repeats=5, timeout_s=120)
    tuner = SystemTuner(workload="decode:ctx=40", space=space, settings=settings,
                        prior_path=tmp_path / "prior.json")
    curve = tuner.run(Candidate(id="c", model=preset("debug"), workdir=tmp_path / "c"), 3)
    assert [p.trial for p in curve] == [1, 2, 3]
    assert curve[0].config == SystemConfig(target=DEVICE).to_dict()  # the untuned default first
    assert all(p.config["target"] == DEVICE for p in curve)
    for point in curve:
        assert point.failure is None, point.failure
        assert math.isfinite(point.latency_s) and point.latency_s > 0
        assert math.isfinite(point.quality_delta) and point.quality_delta < 0.5
        assert point.extra["target"]["target"] == DEVICE
    if DEVICE == "cuda":
        assert curve[0].extra["target"]["gpu"]


def test_tuner_compiles_its_finalist_cold_after_the_eager_sweep(tmp_path):
    if DEVICE != "cuda":
        pytest.skip("a cold compile on this CPU takes tens of seconds; tests/systems checks the bookkeeping")
    # two eager configs (the tuner measures its space's configs only, so a sweep of two is two trials)
    space = SearchSpace(schemes=("fp32",), dispatches=("gather", "dense"), attentions=("sdpa",),
                        compiles=("eager", "default"), target=DEVICE)
    settings = MeasureSettings(warmup=1, min_repeats=3, max_repeats=5, timeout_s=240)
    tuner = SystemTuner(workload="decode:ctx=40", space=space, settings=settings, prior_path=tmp_path / "prior.json",
                        compile_top_k=1, max_eager_trials=2, cold_compiles=True)
    curve = tuner.run(Candidate(id="c", model=preset("debug"), workdir=tmp_path / "c"), 10)
    assert [p.config["compile"] for p in curve] == ["eager", "eager", "default"]
    compiled = curve[-1]
    assert compiled.failure is None, compiled.failure
    assert compiled.config["target"] == DEVICE and compiled.quality_delta < 1e-3
    assert compiled.seconds - curve[-2].seconds > 0  # a fresh process and a whole compile, charged to the trial
