"""Each knob's outputs stay within its stated tolerance of the fp32 reference (debug model)."""

import pytest
import torch

from format_tolerance import CPU_ONLY_FORMATS, CUDA_ONLY_FORMATS, FORMAT_TOLERANCE
from prefill_step import knob_fixtures, prefill_and_step
from sonar.systems.apply import transform
from sonar.systems.config import WEIGHT_SCHEMES, SystemConfig, uniform_weights
from sonar.systems.quality import logits_error
from sonar.systems.quant import dequantize_int4, pack, quantize_int4, weight_matmul

# Weight formats promise FORMAT_TOLERANCE; exact knobs (kernels, dispatch, layout) promise float rounding.
EXACT = 1e-5

model, ids, reference = knob_fixtures()


def _check(model, ids, reference, config, tolerance):
    prefill, step = prefill_and_step(transform(model, config), ids)
    assert torch.isfinite(prefill).all() and torch.isfinite(step).all()
    assert logits_error(prefill, reference[0]) < tolerance
    assert logits_error(step, reference[1]) < tolerance
    # Decode with the cache must agree with the full forward of the same transformed model.
    assert logits_error(step, prefill[:, -1]) < max(tolerance, 1e-4) * 0.5 + 1e-4


@pytest.mark.parametrize("fmt", [f for f in FORMAT_TOLERANCE if f not in CUDA_ONLY_FORMATS])
def test_weight_format_within_tolerance(model, ids, reference, fmt):
    dispatch = "grouped" if fmt.startswith("fp32") else "packed_grouped"
    # Routed experts are stored [in, out] already, and prepacking takes single linears, not expert banks.
    keeps_routed_fp32 = fmt == "fp32_io" or fmt in CPU_ONLY_FORMATS
    weights = {**uniform_weights(fmt), "weights_routed": "fp32"} if keeps_routed_fp32 else uniform_weights(fmt)
    config = SystemConfig(**weights, int4_group_size=32, moe_dispatch=dispatch)
    _check(model, ids, reference, config, FORMAT_TOLERANCE[fmt])


@pytest.mark.parametrize("scheme", ["int4_mixed", "fp8_mixed", "int8_experts", "int8_moe", "fp32_io"])
def test_mixed_schemes_within_tolerance(model, ids, reference, scheme):
    config = SystemConfig(**WEIGHT_SCHEMES[scheme], int4_group_size=32, moe_dispatch="packed_grouped")
    worst = max(FORMAT_TOLERANCE[f] for f in WEIGHT_SCHEMES[scheme].values())
    _check(model, ids, reference, config, worst)


@pytest.mark.parametrize("dispatch", ["dense", "grouped", "gather", "packed_grouped", "packed_gather"])
def test_moe_dispatch_is_exact(model, ids, reference, dispatch):
    _check(model, ids, reference, SystemConfig(moe_dispatch=dispatch), EXACT)


@pytest.mark.parametrize("fmt", ["bf16", "int8", "fp8"])
def test_packed_gather_matches_packed_grouped(model, ids, fmt):
    grouped = prefill_and_step(transform(model, SystemConfig(**uniform_weights(fmt),
                                                                moe_dispatch="packed_grouped")), ids)
    gathered = prefill_and_step(transform(model, SystemConfig(**uniform_weights(fmt),
                                                                 moe_dispatch="packed_gather")), ids)
    assert logits_error(gathered[0], grouped[0]) < 0.01  # same weights, bf16 rounding in another order


@pytest.mark.parametrize("attention", ["eager", "sdpa", "chunk_blocked"])
def test_attention_kernel_is_exact(model, ids, reference, attention):
    _check(model, ids, reference, SystemConfig(attention=attention), EXACT)


def test_transform_leaves_the_original_model_untouched(model, ids, reference):
    transform(model, SystemConfig(**uniform_weights("int8"), moe_dispatch="packed_grouped"))
    assert logits_error(prefill_and_step(model, ids)[0], reference[0]) == 0.0


def test_int4_packing_matches_its_own_dequantization():
    w_NK = torch.randn(32, 64, generator=torch.Generator().manual_seed(0))
    x_MK = torch.randn(3, 64, generator=torch.Generator().manual_seed(1))
    q_NK, sz = quantize_int4(w_NK, 32)
    dequant_NK = dequantize_int4(q_NK, sz, 32)
    assert (dequant_NK - w_NK).abs().max() <= (w_NK.abs().max() / 15) * 1.01  # half a step per group range
    kernel = weight_matmul("int4", x_MK, pack(w_NK, "int4", 32), 32)
    assert logits_error(kernel, x_MK @ dequant_NK.t()) < 0.02  # bf16 activations and scales


def test_int8_kernel_matches_dequantized_weights():
    w_NK = torch.randn(48, 64, generator=torch.Generator().manual_seed(2))
    x_MK = torch.randn(5, 64, generator=torch.Generator().manual_seed(3))
    fused = weight_matmul("int8", x_MK, pack(w_NK, "int8"))
    in_graph = weight_matmul("int8_dq", x_MK, pack(w_NK, "int8_dq"))
    assert logits_error(fused, in_graph) < 0.01
    assert logits_error(fused, x_MK @ w_NK.t()) < 0.02
