"""Quality delta of a config against the fp32 reference: the relative validation-loss increase when
a val-loss function is given, else the relative logits error on the workload's own output."""

from __future__ import annotations

from collections.abc import Callable

import torch

ValLossFn = Callable[[torch.nn.Module], float]  # model -> validation loss; plugged in by training


def logits_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| over all logits: scale-free, so one tolerance fits every model size."""
    out, reference = out.detach().float().cpu(), reference.detach().float().cpu()
    return float(torch.linalg.vector_norm(out - reference) / torch.linalg.vector_norm(reference).clamp(min=1e-30))


def val_loss_increase(val_loss: float, reference_val_loss: float) -> float:
    """Relative increase (0.01 = 1% worse); a lower loss counts as no loss of quality."""
    return max(0.0, (val_loss - reference_val_loss) / abs(reference_val_loss))
