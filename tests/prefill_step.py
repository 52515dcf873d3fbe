"""The knob tests' two views of a model's output on one batch, shared by the CPU and CUDA suites: the
full-prompt logits, and the last position's logits decoded through the static KV cache after the
rest of the prompt was prefilled into it (so both the prefill and the cached decode path are checked)."""

import torch

from sonar.model import KVCache
from sonar.model.generate import decode_step


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
