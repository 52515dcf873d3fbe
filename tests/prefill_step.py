"""The knob tests' two views of a model's output on one batch, shared by the CPU and CUDA suites: the
full-prompt logits, and the last position's logits decoded through the static KV cache after the
rest of the prompt was prefilled into it (so both the prefill and the cached decode path are checked);
and the fixtures both suites check them on."""

import pytest
import torch

from sonar.model import KVCache, build_model, preset
from sonar.model.generation import decode_step


def prefill_and_step(model, ids_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """([B, T, V] prefill logits, [B, V] cached-decode logits of position T-1), as fp32 on the CPU;
    `ids_BT` is moved to the model's device."""
    device = next(model.parameters()).device
    ids_BT = ids_BT.to(device)
    T = ids_BT.shape[1]
    with torch.inference_mode():
        prefill = model(ids_BT).logits
        cache = KVCache.allocate(model, batch=ids_BT.shape[0], max_len=T, dtype=torch.float32)
        model(ids_BT[:, :-1], cache=cache)
        cache.next_position = T - 1
        step = decode_step(model, ids_BT[:, -1:], torch.tensor([T - 1], device=device), cache)
    return prefill.float().cpu(), step.float().cpu()



T_PREFILL = 70  # crosses two boundaries of the debug model's 32-token attention chunks


def knob_fixtures():
    """The module-scoped fixtures (model, ids, reference) both suites check knobs on: the debug model,
    a [2, T_PREFILL] batch, and the batch's fp32 reference on the CPU. A suite binds them at module
    level (`model, ids, reference = knob_fixtures()`) for pytest to find."""

    @pytest.fixture(scope="module")
    def model():
        return build_model(preset("debug"), seed=0).eval()

    @pytest.fixture(scope="module")
    def ids():
        return torch.randint(0, 512, (2, T_PREFILL), generator=torch.Generator().manual_seed(1))

    @pytest.fixture(scope="module")
    def reference(model, ids):
        return prefill_and_step(model, ids)  # fp32, untransformed, on the CPU

    return model, ids, reference
