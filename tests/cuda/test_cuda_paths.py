"""The model's own paths on a CUDA device agree with the CPU and with transformers on the same weights:
the text decoder, every attention kernel and MoE dispatch, cached greedy generation, the multimodal
forward, and training steps. fp32 throughout (TF32 off), debug-size models.
"""

import copy

import pytest
import torch
from cuda_device import DEVICE, ON_DEVICE

from hf_oracle import hf_model_from, max_abs_diff
from prefill_step import prefill_and_step
from sonar.model import build_model, generate, preset
from sonar.model.attention_kernels import ATTENTION_KERNELS
from sonar.model.moe_dispatch import MOE_DISPATCHES
from sonar.systems.apply import transform
from sonar.systems.config import SystemConfig
from sonar.systems.experts import GROUPED_GEMM_DISPATCHES  # importing it registers the packed dispatches
from sonar.systems.quality import logits_error
from sonar.train.config import TrainConfig
from sonar.train.optimizer import build_optimizer
from sonar.train.step import apply_kernels, train_step
from vision_cases import pixels, prompt, tiny_model

pytestmark = ON_DEVICE

# Dispatches that compute in bf16 by design are checked against their tolerance in test_cuda_knobs.py.
BF16_DISPATCHES = set(GROUPED_GEMM_DISPATCHES)

CONFIG = preset("debug").replace(initializer_range=0.08)  # attention chunks of 32 tokens
T_PREFILL = 75  # crosses two chunk boundaries
# fp32 on two devices differs only in summation order: a few ulps of the logits' scale.
DEVICE_ABS = 1e-4
EXACT = 1e-5  # relative logits error of exact knobs, as the CPU knob tests promise


def _ids(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, CONFIG.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def cpu_model():
    return build_model(CONFIG, seed=3).eval()


@pytest.fixture(scope="module")
def device_model(cpu_model):
    return copy.deepcopy(cpu_model).to(DEVICE)


def test_text_model_matches_the_cpu_and_transformers(cpu_model, device_model):
    ids = _ids(2, T_PREFILL)
    with torch.no_grad():
        on_cpu = cpu_model(ids).logits
        on_device = device_model(ids.to(DEVICE)).logits
        theirs = hf_model_from(cpu_model).to(DEVICE)
        reference = theirs(ids.to(DEVICE), use_cache=False).logits
    assert on_device.device.type == DEVICE
    assert max_abs_diff(on_device.cpu(), on_cpu) <= DEVICE_ABS
    assert max_abs_diff(on_device, reference) <= DEVICE_ABS


def test_cached_decode_step_matches_the_full_forward_on_device(device_model):
    prefill, step = prefill_and_step(device_model, _ids(2, T_PREFILL, seed=1))
    assert logits_error(step, prefill[:, -1]) < EXACT


@pytest.mark.parametrize(("knob", "value"), [("attention", kernel) for kernel in sorted(ATTENTION_KERNELS)]
                         + [("moe_dispatch", dispatch) for dispatch in sorted(set(MOE_DISPATCHES) - BF16_DISPATCHES)])
def test_every_attention_kernel_and_moe_dispatch_agrees_with_the_default_on_device(cpu_model, knob, value):
    ids = _ids(2, T_PREFILL, seed=2 if knob == "attention" else 3)
    default = prefill_and_step(transform(cpu_model, SystemConfig(target=DEVICE)), ids)
    chosen = prefill_and_step(transform(cpu_model, SystemConfig(**{knob: value}, target=DEVICE)), ids)
    assert logits_error(chosen[0], default[0]) < EXACT
    assert logits_error(chosen[1], default[1]) < EXACT


def assert_same_greedy_tokens(on_device: torch.Tensor, on_cpu: torch.Tensor, cpu_logits) -> None:
    """Equal tokens, or a first difference where the CPU's top two logits nearly tie: rounding on
    another device may flip such a choice and nothing else. `cpu_logits(prefix)` -> [B, V]."""
    assert on_device.shape == on_cpu.shape
    differs = (on_device != on_cpu).nonzero()
    if differs.numel() == 0:
        return
    row, first = (int(i) for i in differs[0])
    with torch.no_grad():
        logits = cpu_logits(on_cpu[:, :first])
    gap = float(logits[row, on_cpu[row, first]] - logits[row, on_device[row, first]])
    assert gap < 1e-4, f"row {row} differs from position {first}, where the CPU's choice leads by {gap:.2e}"


@pytest.mark.parametrize("attention", ["chunk_blocked", "sdpa"])
def test_greedy_generation_on_device_matches_the_cpu(attention):
    config = CONFIG.replace(attention_chunk_size=16, initializer_range=0.1)
    cpu_model = transform(build_model(config, seed=7), SystemConfig(attention=attention))
    device_model = transform(cpu_model, SystemConfig(attention=attention, target=DEVICE))
    prompt_ids = torch.randint(0, config.vocab_size, (2, 20), generator=torch.Generator().manual_seed(4))
    # The prompt crosses the chunk at 16; decoding crosses 32 and 48 and ends at position 59.
    on_cpu = generate(cpu_model, prompt_ids, max_new_tokens=40)
    on_device = generate(device_model, prompt_ids.to(DEVICE), max_new_tokens=40)
    assert on_device.device.type == DEVICE and on_cpu.shape == (2, 60)
    assert_same_greedy_tokens(on_device.cpu(), on_cpu, lambda prefix: cpu_model(prefix).logits[:, -1])


def test_multimodal_forward_and_generation_on_device_match_the_cpu():
    cpu_model = tiny_model(seed=4)
    device_model = copy.deepcopy(cpu_model).to(DEVICE)
    grids = [(2, 1), (1, 1)]
    ids, pv = prompt(grids), pixels(grids)
    with torch.no_grad():
        on_cpu = cpu_model(ids, pv).logits
        on_device = device_model(ids.to(DEVICE), pv.to(DEVICE)).logits
    assert max_abs_diff(on_device.cpu(), on_cpu) <= DEVICE_ABS
    generated_cpu = generate(cpu_model, ids, pixel_values=pv, max_new_tokens=6)
    generated_device = generate(device_model, ids.to(DEVICE), pixel_values=pv.to(DEVICE), max_new_tokens=6)
    assert_same_greedy_tokens(generated_device.cpu(), generated_cpu,
                              lambda prefix: cpu_model(prefix, pv).logits[:, -1])


def _two_steps(model, inputs, targets, config: TrainConfig) -> list[float]:
    apply_kernels(model, config)
    optimizer = build_optimizer(model, config)
    return [train_step(model, optimizer, inputs, targets, step=s, config=config)[0] for s in (0, 1)]


@pytest.mark.parametrize("dispatch", ["grouped", "gather"])
def test_training_steps_on_device_match_the_cpu(dispatch):
    # fp32 on both devices (bf16 autocast, CUDA's default, is checked in test_cuda_training.py).
    config = TrainConfig(batch_size=2, seq_len=40, warmup_steps=0, moe_dispatch=dispatch, precision="fp32")
    data = torch.randint(0, CONFIG.vocab_size, (2, 41), generator=torch.Generator().manual_seed(5))
    inputs, targets = data[:, :-1], data[:, 1:]
    cpu_model = build_model(CONFIG, seed=1).train()
    device_model = copy.deepcopy(cpu_model).to(DEVICE)
    on_cpu = _two_steps(cpu_model, inputs, targets, config)
    on_device = _two_steps(device_model, inputs.to(DEVICE), targets.to(DEVICE), config)
    assert all(torch.isfinite(torch.tensor(on_device)))
    assert abs(on_device[0] - on_cpu[0]) < 1e-4  # the same weights before any update
    # After one AdamW update: Adam's first step moves each weight by about lr * sign(grad), so tiny
    # gradients rounded differently may move some weights the other way; the loss stays close.
    assert abs(on_device[1] - on_cpu[1]) < 0.02
    assert on_device[1] < on_device[0]  # the update lowered the loss on its own batch
