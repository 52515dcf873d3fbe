"""Expert load: how many token slots each MoE layer sent to each expert.

Legend: T tokens, E experts, A selected experts per token.
"""

from __future__ import annotations

import torch


class ExpertLoad:
    def __init__(self, counts: list[list[int]] | None = None) -> None:
        self.counts_LE = [torch.tensor(c, dtype=torch.int64) for c in counts or []]

    @torch.no_grad()
    def add(self, router_logits: list[torch.Tensor], top_k: int) -> None:
        if not self.counts_LE:
            self.counts_LE = [torch.zeros(t.shape[-1], dtype=torch.int64) for t in router_logits]
        for counts_E, logits_TE in zip(self.counts_LE, router_logits, strict=True):
            chosen_TA = torch.topk(logits_TE, top_k, dim=-1).indices
            counts_E += torch.bincount(chosen_TA.reshape(-1), minlength=counts_E.numel()).cpu()

    def to_list(self) -> list[list[int]]:
        return [c.tolist() for c in self.counts_LE]

    def summary(self) -> list[dict]:
        """Per MoE layer: each expert's share of slots, and the busiest expert's load over the mean
        (1.0 is perfect balance; E means one expert took everything)."""
        out = []
        for i, counts_E in enumerate(self.counts_LE):
            total = int(counts_E.sum())
            share = (counts_E.double() / max(total, 1)).tolist()
            imbalance = float(counts_E.max() * counts_E.numel() / total) if total else 0.0
            out.append({"moe_layer": i, "slots": total, "share": [round(s, 5) for s in share],
                        "max_over_mean": round(imbalance, 4)})
        return out
