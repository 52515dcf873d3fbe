"""Held-out token windows long enough for a given length, cut from validation documents.

A window lies inside one document when any held-out document is long enough; otherwise the
documents are joined (END_OF_TEXT between them) and the result says so, since loss across a document
boundary measures something else than loss deep inside one text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sonar.errors import UserError


@dataclass(frozen=True)
class Windows:
    rows_NL1: torch.Tensor  # [N, L+1] int64: inputs and shifted targets
    concatenated: bool  # True: documents were joined to reach the length


def held_out_windows(documents: list[np.ndarray], *, length: int, n_windows: int, eot_id: int) -> Windows:
    """Up to `n_windows` non-overlapping windows of length+1 tokens, evenly spread over what is available."""
    span = length + 1
    inside = [(d, start) for d in documents for start in range(0, len(d) - span + 1, span)]
    concatenated = not inside
    if concatenated:
        joined = np.concatenate([np.append(d, eot_id) for d in documents]) if documents else np.zeros(0, np.int64)
        inside = [(joined, start) for start in range(0, len(joined) - span + 1, span)]
    if not inside:
        total = sum(len(d) for d in documents)
        raise UserError(f"the held-out documents hold {total:,} tokens in all, fewer than length+1={span:,} needed "
                        f"for one window: use a larger corpus or a smaller --multiples")
    picks = np.unique(np.linspace(0, len(inside) - 1, num=min(n_windows, len(inside))).round().astype(np.int64))
    rows = np.stack([np.asarray(inside[i][0][inside[i][1]: inside[i][1] + span], dtype=np.int64) for i in picks])
    return Windows(rows_NL1=torch.from_numpy(rows), concatenated=concatenated)
