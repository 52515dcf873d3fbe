"""Baselines under the same interface, so every comparison is in the same currency.

brute:      every candidate trained and tuned fully (one rung at the maxima; ignores the cost budget).
random:     the same, but it starts candidates only while the cost budget lasts.
sequential: architecture search first (ASHA on training steps, ranked by loss, no tuning), then the
            winners are tuned fully.
asha:       ASHA on the architecture only: full tuning from rung 0, ranked on the measured values.
"""

from __future__ import annotations

from sonar.search.schedulers.base import RungScheduler, geometric_ladder
from sonar.search.schedulers.policy import PLAIN_RULES


class BruteForceScheduler(RungScheduler):
    name = "brute"
    default_rules = PLAIN_RULES
    promote_all_from = 0
    respects_cost_budget = False

    def build_ladder(self) -> list[tuple[int, int]]:
        return [(self.spec.budget.max_steps, self.spec.budget.max_trials)]


class RandomSearchScheduler(BruteForceScheduler):
    name = "random"
    respects_cost_budget = True


class AshaScheduler(RungScheduler):
    name = "asha"
    default_rules = PLAIN_RULES

    def build_ladder(self) -> list[tuple[int, int]]:
        return [(steps, self.spec.budget.max_trials) for steps in training_steps(self.spec)]


class SequentialScheduler(RungScheduler):
    name = "sequential"
    default_rules = PLAIN_RULES

    def build_ladder(self) -> list[tuple[int, int]]:
        training = [(steps, 0) for steps in training_steps(self.spec)]
        self.loss_only_below = len(training)
        self.promote_all_from = len(training) - 1
        return training + [(self.spec.budget.max_steps, self.spec.budget.max_trials)]


def training_steps(spec) -> list[int]:
    """min_steps * eta^k up to max_steps: the rungs of a search on training alone."""
    b = spec.budget
    rungs = 1
    while b.min_steps * spec.eta ** (rungs - 1) < b.max_steps:
        rungs += 1
    return geometric_ladder(b.min_steps, b.max_steps, spec.eta, rungs)
