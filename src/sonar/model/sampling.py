"""Next-token choice from logits: greedy, temperature, top-k, top-p."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from sonar.errors import UserError

# The smallest temperature the float32 logits are divided by: below it the divisor itself would round to 0.
# Logits are shifted so the best one is 0 first, so any tinier temperature is the same distribution (all
# mass on the best token, shared among exact ties) and nothing overflows into inf - inf = nan.
_TINIEST_TEMPERATURE = torch.finfo(torch.float32).tiny


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(kw_only=True, frozen=True)
class SamplingConfig:
    temperature: float = 0.0  # 0: greedy
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if not _is_number(self.temperature) or not math.isfinite(self.temperature) or self.temperature < 0:
            raise UserError(f"temperature={self.temperature!r}: must be a finite number >= 0 (0 means greedy)")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, numbers.Integral)
                                       or self.top_k < 1):
            raise UserError(f"top_k={self.top_k!r}: must be an integer >= 1 (or None)")
        if self.top_p is not None and (not _is_number(self.top_p) or not 0 < self.top_p <= 1):
            raise UserError(f"top_p={self.top_p!r}: must be a number in (0, 1] (or None)")


def next_tokens(logits_BV: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None) -> torch.Tensor:
    if cfg.temperature == 0:
        return logits_BV.argmax(dim=-1)
    logits_BV = logits_BV.float()
    # Shifted so the best logit is 0: a tiny temperature then sends the rest to -inf, never inf - inf.
    logits_BV = (logits_BV - logits_BV.amax(dim=-1, keepdim=True)) / max(float(cfg.temperature), _TINIEST_TEMPERATURE)
    if cfg.top_k is not None:
        kth_B1 = torch.topk(logits_BV, min(int(cfg.top_k), logits_BV.shape[-1]), dim=-1).values[:, -1:]
        logits_BV = logits_BV.masked_fill(logits_BV < kth_B1, float("-inf"))
    if cfg.top_p is not None:
        sorted_BV, order_BV = torch.sort(logits_BV, descending=True, dim=-1)
        cumulative_BV = torch.softmax(sorted_BV, dim=-1).cumsum(dim=-1)
        # Drop a token once the mass before it already reaches top_p; the top token always stays.
        drop_sorted_BV = (cumulative_BV - torch.softmax(sorted_BV, dim=-1)) >= cfg.top_p
        # compared in float32, a top_p below its smallest number is 0, which the top token's 0 reached too
        drop_sorted_BV[:, 0] = False
        drop_BV = torch.zeros_like(drop_sorted_BV).scatter(1, order_BV, drop_sorted_BV)
        logits_BV = logits_BV.masked_fill(drop_BV, float("-inf"))
    probs_BV = torch.softmax(logits_BV, dim=-1)
    return torch.multinomial(probs_BV, 1, generator=generator).squeeze(-1)
