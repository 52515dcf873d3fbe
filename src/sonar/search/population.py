"""Central forecasts borrowed from the population: a candidate seen at a small budget is expected to
improve as the candidates that went further improved over the same stretch of the ladder.

A single curve says little about its own future (one val loss after 8 steps, one tuning trial), but
candidates of one search share the data, the schedule and the tuner, so the ratio between a curve's
value at one rung and at the next is far steadier across candidates than the values themselves.
For each pair of adjacent budgets the ratio is the median over every candidate measured at both;
a projection chains them to the horizon. Only the central forecast uses this: the optimistic and
pessimistic bounds stay each curve's own, so elimination keeps its guarantees.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LadderRatios:
    budgets: tuple[int, ...]
    ratios: tuple[float | None, ...]  # value(budgets[j+1]) / value(budgets[j]); None where nobody went on
    lows: tuple[float | None, ...] = ()  # the smallest such ratio seen: the best improvement so far

    @classmethod
    def fit(cls, budgets: Sequence[int], curves: Iterable[Mapping[int, float]]) -> LadderRatios:
        budgets = tuple(sorted(set(budgets)))
        per_step: list[list[float]] = [[] for _ in budgets[1:]]
        for curve in curves:
            for j, (here, there) in enumerate(zip(budgets, budgets[1:], strict=False)):
                a, b = curve.get(here), curve.get(there)
                if a is not None and b is not None and _usable(a) and _usable(b):
                    per_step[j].append(b / a)
        return cls(budgets=budgets, ratios=tuple(statistics.median(r) if r else None for r in per_step),
                   lows=tuple(min(r) if r else None for r in per_step))

    def project(self, budget: int, value: float, *, hopeful: bool = False) -> float | None:
        """The value expected at the last budget (`hopeful`: if it improves as the best candidate so
        far did on every stretch), or None when `budget` is off the ladder or some stretch after it
        has no measured ratio yet."""
        if budget not in self.budgets or not _usable(value):
            return None
        projected = value
        for ratio in (self.lows if hopeful else self.ratios)[self.budgets.index(budget):]:
            if ratio is None:
                return None
            projected *= ratio
        return projected


def _usable(value: float) -> bool:
    return math.isfinite(value) and value > 0


@dataclass(frozen=True)
class RemainingRatios:
    """value(last budget) / value(budget) per candidate, straight to the end rather than chained.

    For a tuning sweep whose big gain comes once, at a trial that differs between candidates (a
    compiled variant after the eager sweep), chaining per-stretch ratios mixes candidates that took the
    gain in one stretch with others that took it in the next; the remaining ratio of each candidate
    keeps its whole gain together, and the smallest one is the best improvement anyone made from there."""

    budgets: tuple[int, ...]
    ratios: tuple[float | None, ...]  # median over candidates measured at the budget and at the last
    lows: tuple[float | None, ...] = ()

    @classmethod
    def fit(cls, budgets: Sequence[int], curves: Iterable[Mapping[int, float]]) -> RemainingRatios:
        budgets = tuple(sorted(set(budgets)))
        last = budgets[-1]
        per_budget: list[list[float]] = [[] for _ in budgets]
        for curve in curves:
            end = curve.get(last)
            if end is None or not _usable(end):
                continue
            for j, budget in enumerate(budgets):
                here = curve.get(budget)
                if here is not None and _usable(here):
                    per_budget[j].append(end / here)
        return cls(budgets=budgets, ratios=tuple(statistics.median(r) if r else None for r in per_budget),
                   lows=tuple(min(r) if r else None for r in per_budget))

    def project(self, budget: int, value: float, *, hopeful: bool = False) -> float | None:
        """The value expected at the last budget (`hopeful`: with the largest remaining gain seen), or
        None when `budget` is off the ladder or no candidate has gone from it to the end yet."""
        if budget not in self.budgets or not _usable(value):
            return None
        ratio = (self.lows if hopeful else self.ratios)[self.budgets.index(budget)]
        return None if ratio is None else value * ratio
