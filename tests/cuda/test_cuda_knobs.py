"""The GPU knobs on the device: a pinned SDPA backend, the fp8 tensor-core GEMM, grouped-GEMM experts, a
decode step replayed as one CUDA graph (compile mode reduce-overhead), and batching under a step-latency
bound. Each either runs within its tolerance of the fp32 reference or is refused by its rule up front.
With SONAR_CUDA_TESTS_ON_CPU=1 the CPU-runnable parts run on the CPU and the GPU-only ones are refused there.
"""

import statistics
import time

import pytest
import torch
from cuda_device import DEVICE, ON_DEVICE, needs_gpu

from prefill_step import knob_fixtures, prefill_and_step
from sonar.systems.apply import prepare, transform
from sonar.systems.config import SystemConfig, SystemConfigError, uniform_weights
from sonar.systems.quality import logits_error
from sonar.systems.quant import pack, weight_matmul
from sonar.systems.space import check, cuda_kernel_runs
from sonar.systems.trial import MeasureSettings, Reference, run_trial
from sonar.systems.workload import Session, Workload

pytestmark = ON_DEVICE

EXACT, BF16, FP8 = 1e-4, 0.02, 0.1  # fp32 on another device; the bf16 and fp8 formats' promises

model, ids, reference = knob_fixtures()


def _within(transformed, ids, reference, tolerance, *, decode=True):
    """Prefill (and, unless `decode` is False, the cached decode step) within `tolerance` of the reference."""
    if not decode:
        with torch.inference_mode():
            prefill = transformed(ids.to(DEVICE)).logits.float().cpu()
        assert torch.isfinite(prefill).all() and logits_error(prefill, reference[0]) < tolerance
        return
    prefill, step = prefill_and_step(transformed, ids)
    assert torch.isfinite(prefill).all() and logits_error(prefill, reference[0]) < tolerance
    assert torch.isfinite(step).all() and logits_error(step, reference[1]) < tolerance


@pytest.mark.parametrize("backend", ["flash", "efficient", "math"])
def test_a_pinned_sdpa_backend_runs_prefill_within_tolerance_or_is_refused(model, ids, reference, backend):
    config = SystemConfig(attention="chunk_blocked", sdpa_backend=backend, target=DEVICE)
    if DEVICE == "cpu" and backend == "efficient":
        with pytest.raises(SystemConfigError, match="memory-efficient kernel exists on CUDA only"):
            check(config, model.config)
        return
    check(config, model.config, workload_kind="prefill")
    # CUDA's flash takes bf16 (q, k, v are cast) and no mask, so it serves prefill; the others are fp32.
    half = backend == "flash" and DEVICE == "cuda"
    _within(transform(model, config), ids, reference, BF16 if half else EXACT, decode=not half)


def test_the_fp8_gemm_matches_the_matmul_on_the_device():
    if DEVICE == "cuda" and not cuda_kernel_runs("_scaled_mm"):
        pytest.skip(f"torch._scaled_mm with row-wise scales does not run on {torch.cuda.get_device_name()}")
    w_NK = torch.randn(256, 128, generator=torch.Generator().manual_seed(0)) * 0.05
    x_MK = torch.randn(4, 33, 128, generator=torch.Generator().manual_seed(1))
    packed = tuple(t.to(DEVICE) for t in pack(w_NK, "fp8_mm"))
    y = weight_matmul("fp8_mm", x_MK.to(DEVICE), packed)
    assert y.device.type == DEVICE and logits_error(y, x_MK @ w_NK.t()) < FP8


def test_fp8_gemm_weights_run_within_the_fp8_tolerance_or_are_refused(model, ids, reference):
    config = SystemConfig(**uniform_weights("fp8_mm"), moe_dispatch="packed_grouped", target=DEVICE)
    if DEVICE == "cpu":
        with pytest.raises(SystemConfigError, match="fp8 GEMM is a GPU tensor-core kernel"):
            transform(model, config)
        return
    if not cuda_kernel_runs("_scaled_mm"):
        with pytest.raises(SystemConfigError, match="does not run on this GPU"):
            transform(model, config)
        return
    _within(transform(model, config), ids, reference, FP8)


def test_grouped_gemm_experts_run_within_the_bf16_tolerance(model, ids, reference):
    config = SystemConfig(**uniform_weights("bf16"), moe_dispatch="packed_grouped_mm", target=DEVICE)
    if DEVICE == "cuda" and not cuda_kernel_runs("_grouped_mm"):
        with pytest.raises(SystemConfigError, match="_grouped_mm does not run on this GPU"):
            check(config, model.config)
        return
    _within(transform(model, config), ids, reference, BF16)


def _median_call_s(session: Session, calls: int = 30) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        session.call()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_reduce_overhead_replays_decode_as_one_cuda_graph(model):
    needs_gpu("CUDA graphs")
    from torch._dynamo.utils import counters

    workload = Workload.parse("decode:ctx=40")
    graphed = prepare(model, SystemConfig(compile="reduce-overhead", moe_dispatch="gather", attention="sdpa",
                                          target=DEVICE))
    counters.clear()
    session = Session(graphed, workload)
    first = session.first_output()  # compiles and records the graph
    with torch.compiler.set_stance("fail_on_recompile"):
        outputs = [session.call() for _ in range(6)]
    torch.cuda.synchronize()
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
    assert all(torch.isfinite(o).all() for o in outputs)
    assert not any(o.data_ptr() == outputs[-1].data_ptr() for o in outputs[:-1])  # each step's logits its own
    assert logits_error(first, Reference(model).output(workload, 1)[0]) < EXACT
    eager = Session(prepare(model, SystemConfig(moe_dispatch="gather", attention="sdpa", target=DEVICE)), workload)
    eager.first_output()
    # A debug-size decode step is all launch overhead: the graph's one launch is several times faster.
    assert _median_call_s(session) < 0.5 * _median_call_s(eager)


def test_aot_decode_step_matches_the_reference_on_the_device(model):
    workload = Workload.parse("decode:ctx=40")
    built = prepare(model, SystemConfig(compile="aot", moe_dispatch="gather", attention="sdpa", target=DEVICE))
    session = Session(built, workload)
    first = session.first_output()  # exports and builds the package for this cache
    outputs = [session.call() for _ in range(4)]
    assert all(torch.isfinite(o).all() for o in outputs)
    assert len(built.decode.runners) == 1
    assert logits_error(first, Reference(model).output(workload, 1)[0]) < EXACT


def test_batching_buys_throughput_within_the_step_bound():
    from sonar.model import build_model, preset

    base = build_model(preset("debug"), seed=0).eval()
    settings = MeasureSettings(warmup=2, min_repeats=5, max_repeats=10)
    workload = Workload.parse("throughput:ctx=64,step_ms=1000")
    results = {b: run_trial(base, SystemConfig(batch_size=b, target=DEVICE), workload, Reference(base),
                            settings=settings) for b in (1, 32)}
    assert all(r.failure is None for r in results.values()), {b: r.failure for b, r in results.items()}
    assert all(r.extra["step_latency_s"] < 1.0 for r in results.values())
    needs_gpu("batching's throughput gain")
    assert results[32].latency_s < results[1].latency_s / 4  # seconds per token: 32 rows share each launch
