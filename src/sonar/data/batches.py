"""Batches as a pure function of the step: the data position of a run is its step count.

Legend: B batch rows, T sequence length (each row holds T+1 tokens: inputs and shifted targets).

The train stream is cut into non-overlapping windows of T+1 tokens; every epoch visits all windows
in an order drawn from a generator seeded by (seed, epoch). Batch s holds windows s*B .. s*B+B-1
of that endless sequence, so resuming at step k needs nothing but k.
"""

from __future__ import annotations

import numpy as np
import torch

from sonar.errors import UserError


def check_split_holds(split: str, tokens: int, seq_len: int) -> None:
    """A split of `tokens` tokens holds at least one window of seq_len+1 (inputs and shifted targets)."""
    if (tokens - 1) // seq_len < 1:
        raise UserError(f"the {split} split has {tokens} tokens: fewer than seq_len+1={seq_len + 1}")


class WindowBatches:
    def __init__(self, ids: np.ndarray, *, batch_size: int, seq_len: int, seed: int) -> None:
        self.ids = ids
        self.B, self.T, self.seed = batch_size, seq_len, seed
        check_split_holds("training", len(ids), seq_len)
        self.n_windows = (len(ids) - 1) // seq_len
        self._epoch, self._order = -1, None

    def _order_for(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
            self._epoch = epoch
        return self._order

    def window_indices(self, step: int) -> list[int]:
        out = []
        for i in range(step * self.B, (step + 1) * self.B):
            epoch, pos = divmod(i, self.n_windows)
            out.append(int(self._order_for(epoch)[pos]))
        return out

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs [B,T], targets [B,T]) as int64."""
        rows_BT1 = np.stack([self.ids[w * self.T: w * self.T + self.T + 1] for w in self.window_indices(step)])
        rows = torch.from_numpy(rows_BT1.astype(np.int64))
        return rows[:, :-1], rows[:, 1:]


def fixed_windows(ids: np.ndarray, *, n_rows: int, seq_len: int) -> torch.Tensor:
    """Evenly spaced windows [n_rows, T+1] over a (validation) stream: the same for every run."""
    check_split_holds("validation", len(ids), seq_len)
    n_windows = (len(ids) - 1) // seq_len
    picks = np.unique(np.linspace(0, n_windows - 1, num=min(n_rows, n_windows)).round().astype(np.int64))
    rows = np.stack([ids[w * seq_len: w * seq_len + seq_len + 1] for w in picks])
    return torch.from_numpy(rows.astype(np.int64))
