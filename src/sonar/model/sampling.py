"""Next-token choice from logits: greedy, temperature, top-k, top-p."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sonar.errors import UserError


@dataclass(kw_only=True, frozen=True)
class SamplingConfig:
    temperature: float = 0.0  # 0: greedy
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise UserError(f"temperature={self.temperature}: must be >= 0 (0 means greedy)")
        if self.top_k is not None and self.top_k < 1:
            raise UserError(f"top_k={self.top_k}: must be >= 1")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UserError(f"top_p={self.top_p}: must be in (0, 1]")


def next_tokens(logits_BV: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None) -> torch.Tensor:
    if cfg.temperature == 0:
        return logits_BV.argmax(dim=-1)
    logits_BV = logits_BV.float() / cfg.temperature
    if cfg.top_k is not None:
        kth_B1 = torch.topk(logits_BV, min(cfg.top_k, logits_BV.shape[-1]), dim=-1).values[:, -1:]
        logits_BV = logits_BV.masked_fill(logits_BV < kth_B1, float("-inf"))
    if cfg.top_p is not None:
        sorted_BV, order_BV = torch.sort(logits_BV, descending=True, dim=-1)
        cumulative_BV = torch.softmax(sorted_BV, dim=-1).cumsum(dim=-1)
        # Drop a token once the mass before it already reaches top_p; the top token always stays.
        drop_sorted_BV = (cumulative_BV - torch.softmax(sorted_BV, dim=-1)) >= cfg.top_p
        drop_BV = torch.zeros_like(drop_sorted_BV).scatter(1, order_BV, drop_sorted_BV)
        logits_BV = logits_BV.masked_fill(drop_BV, float("-inf"))
    probs_BV = torch.softmax(logits_BV, dim=-1)
    return torch.multinomial(probs_BV, 1, generator=generator).squeeze(-1)
