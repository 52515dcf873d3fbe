"""The GPU knobs' rules (CUDA graphs, SDPA backend, fp8 GEMM, grouped-GEMM experts, a step-latency bound on
batching) and the parts of them that run on the CPU: each within its tolerance of the fp32 reference."""

import pytest
import torch

from prefill_step import knob_fixtures, prefill_and_step
from sonar.errors import UserError
from sonar.model import build_model, preset
from sonar.systems import space
from sonar.systems.apply import transform
from sonar.systems.config import SystemConfig, SystemConfigError, uniform_weights
from sonar.systems.quality import logits_error
from sonar.systems.quant import pack, weight_matmul
from sonar.systems.trial import MeasureSettings, Reference, run_trial
from sonar.systems.workload import Workload

DEBUG = preset("debug")
EXACT = 1e-5
BF16 = 0.02  # the bf16 weight format's promise (format_tolerance.py)
FP8 = 0.1

model, ids, reference = knob_fixtures()


@pytest.fixture
def gpu_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.mark.parametrize(("config", "rule"), [
    (SystemConfig(compile="reduce-overhead", moe_dispatch="gather"), "replays CUDA graphs"),
    (SystemConfig(weights_head="fp8_mm"), "fp8 GEMM is a GPU tensor-core kernel"),
    (SystemConfig(sdpa_backend="efficient"), "memory-efficient kernel exists on CUDA only"),
    (SystemConfig(sdpa_backend="math", attention="eager"), "eager attention does not call SDPA"),
    (SystemConfig(sdpa_backend="math", compile="default", moe_dispatch="gather"), "pinned in eager mode only"),
    (SystemConfig(moe_dispatch="packed_grouped_mm"), "set weights_routed='bf16'"),
    (SystemConfig(weights_routed="fp8_mm", moe_dispatch="packed_gather", target="cuda"), "runs per expert"),
])
def test_gpu_knobs_are_refused_where_they_cannot_run(config, rule):
    with pytest.raises(SystemConfigError, match=rule):
        space.check(config, DEBUG)


def test_flash_on_cuda_takes_chunk_blocked_prefill_only(gpu_present):
    flash = SystemConfig(sdpa_backend="flash", target="cuda")
    with pytest.raises(SystemConfigError, match="flash takes no mask"):
        space.check(flash.replace(attention="sdpa"), DEBUG)
    with pytest.raises(SystemConfigError, match="a decode step attends through a mask"):
        space.check(flash, DEBUG, workload_kind="decode")
    space.check(flash, DEBUG, workload_kind="prefill")
    space.check(flash.replace(attention="sdpa", target="cpu"), DEBUG, workload_kind="decode")  # the CPU's takes masks


def test_fp8_gemm_needs_dimensions_in_multiples_of_16():
    odd = DEBUG.replace(intermediate_size_mlp=200)
    with pytest.raises(SystemConfigError, match=r"weights_dense='fp8_mm': a \[200, 64\] weight"):
        space.check(SystemConfig(weights_dense="fp8_mm", target="cuda"), odd)


def test_probed_gpu_kernels_are_refused_where_the_probe_fails(gpu_present, monkeypatch):
    monkeypatch.setattr(space, "cuda_kernel_runs", lambda op: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "an older GPU")
    with pytest.raises(SystemConfigError, match=r"_scaled_mm with row-wise scales does not run on this GPU"):
        space.check(SystemConfig(weights_head="fp8_mm", target="cuda"), DEBUG)
    grouped_mm = SystemConfig(weights_routed="bf16", moe_dispatch="packed_grouped_mm", target="cuda")
    with pytest.raises(SystemConfigError, match=r"_grouped_mm does not run on this GPU \(an older GPU\)"):
        space.check(grouped_mm, DEBUG)


def test_the_cpu_space_proposes_no_gpu_only_knob():
    configs = space.SearchSpace(compiles=("eager", "reduce-overhead"), sdpa_backends=("auto", "efficient")).configs(
        DEBUG, workload_kind="decode")
    assert configs
    assert not any(c.compile == "reduce-overhead" or c.sdpa_backend == "efficient" for c in configs)
    assert not any("fp8_mm" in c.to_dict().values() for c in configs)


@pytest.mark.parametrize("backend", ["flash", "math"])
def test_a_pinned_sdpa_backend_is_exact_on_the_cpu(model, ids, reference, backend):
    for attention in ("chunk_blocked", "sdpa"):
        prefill, step = prefill_and_step(transform(model, SystemConfig(attention=attention, sdpa_backend=backend)),
                                         ids)
        assert logits_error(prefill, reference[0]) < EXACT and logits_error(step, reference[1]) < EXACT


def test_grouped_gemm_experts_match_the_bf16_per_expert_loop(model, ids, reference):
    bf16 = uniform_weights("bf16")
    grouped_mm = prefill_and_step(transform(model, SystemConfig(**bf16, moe_dispatch="packed_grouped_mm")), ids)
    per_expert = prefill_and_step(transform(model, SystemConfig(**bf16, moe_dispatch="packed_grouped")), ids)
    assert logits_error(grouped_mm[0], reference[0]) < BF16 and logits_error(grouped_mm[1], reference[1]) < BF16
    assert logits_error(grouped_mm[0], per_expert[0]) < 0.01  # the same bf16 products, other summation order


def test_the_fp8_gemm_is_within_the_fp8_tolerance():
    w_NK = torch.randn(96, 64, generator=torch.Generator().manual_seed(0)) * 0.05
    x_MK = torch.randn(3, 5, 64, generator=torch.Generator().manual_seed(1))
    y = weight_matmul("fp8_mm", x_MK, pack(w_NK, "fp8_mm"))
    assert y.shape == (3, 5, 96) and y.dtype == torch.float32
    assert logits_error(y, x_MK @ w_NK.t()) < FP8


def test_a_throughput_workload_parses_its_step_bound():
    workload = Workload.parse("throughput:ctx=16,step_ms=40")
    assert workload.step_ms == 40 and Workload.parse(workload.label()) == workload
    with pytest.raises(UserError, match="step_ms"):
        Workload.parse("decode:ctx=16,step_ms=40")
    with pytest.raises(UserError, match="step_ms=0"):
        Workload.parse("throughput:ctx=16,step_ms=0")


def test_a_batch_whose_step_passes_the_bound_fails():
    bounded = Workload.parse("throughput:ctx=16,step_ms=40")
    assert bounded.step_bound_failure(0.039, 8) is None
    assert bounded.step_bound_failure(0.041, 8) == "latency bound: a decode step of batch 8 takes 41 ms > step_ms=40"
    assert Workload.parse("throughput:ctx=16").step_bound_failure(100.0, 8) is None


def test_a_trial_records_its_step_latency_and_keeps_a_loose_bound():
    base = build_model(DEBUG, seed=0).eval()
    settings = MeasureSettings(warmup=0, min_repeats=2, max_repeats=3)
    result = run_trial(base, SystemConfig(batch_size=4), Workload.parse("throughput:ctx=32,step_ms=60000"),
                       Reference(base), settings=settings)
    assert result.failure is None
    assert result.extra["step_latency_s"] == pytest.approx(result.latency_s * 4)


@pytest.mark.parametrize(("backend", "tolerance"), [("math", EXACT), ("flash", BF16)])
@pytest.mark.parametrize("chunk", [32, 100, None])
def test_the_cuda_variant_of_a_pinned_backend_computes_the_same_attention(backend, tolerance, chunk):
    """Run here on CPU tensors: repeated key/value heads, and for flash bf16 and an unmasked prefill."""
    from sonar.model.attention_kernels import ATTENTION_KERNELS
    from sonar.systems.sdpa_backends import kernel_name

    base, pinned = ATTENTION_KERNELS["chunk_blocked"], ATTENTION_KERNELS[kernel_name("chunk_blocked", backend, "cuda")]
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, heads, 70, 16, generator=generator) for heads in (4, 2, 2))
    positions = torch.arange(70)
    kwargs = dict(q_pos=positions, k_pos=positions, chunk=chunk, scale=0.25, fresh=True)
    out, reference = pinned(q, k, v, **kwargs), base(q, k, v, **kwargs)
    assert out.dtype == torch.float32 and logits_error(out, reference) < tolerance
