"""One number for a search: the loss at `factor` x the training length over the in-length loss, both on
held-out windows of the same text, through the full forward (length.py's per-position losses)."""

from __future__ import annotations

import numpy as np

from sonar.longctx.held_out import held_out_windows
from sonar.longctx.position_loss import full_losses


def long_context_loss(model, documents: list[np.ndarray], *, train_len: int, factor: int, windows: int,
                      eot_id: int) -> tuple[float, float]:
    """(mean loss of windows `factor` x train_len long, that over the mean loss of train_len-long windows)."""
    device = next(model.parameters()).device
    losses = {}
    for multiple in (1, factor):
        rows_NL1 = held_out_windows(documents, length=multiple * train_len, n_windows=windows,
                                    eot_id=eot_id).rows_NL1
        losses[multiple] = float(full_losses(model, rows_NL1.to(device)).mean())
    return losses[factor], losses[factor] / losses[1]


