"""The method contract for replay, and the two baselines computed directly on the table.

A method drives one ReplaySession (one seed) until it is done or the session raises
BudgetExhausted. It may set its own recommendation (session.recommend); otherwise the session
applies the default rule to what the method observed.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sonar.bench.replay import ReplaySession, default_recommendation


class Method(Protocol):
    name: str
    modes: tuple[str, ...]  # objective modes it handles

    def run(self, session: ReplaySession, seed: int) -> None: ...


def _train_and_tune_fully(session: ReplaySession, candidate_id: str) -> None:
    header = session.table.header
    session.train(candidate_id, header.max_steps)
    session.tune(candidate_id, len(session.table.candidate(candidate_id).tuning))


class BruteForce:
    """Trains and tunes every candidate to the end, then recommends: zero regret at full cost."""

    name = "brute_force"
    modes = ("constraint", "pareto")

    def run(self, session: ReplaySession, seed: int) -> None:
        session.recommend(None if session.objective.mode == "constraint" else [])
        for candidate_id in session.table.ids:
            _train_and_tune_fully(session, candidate_id)
        session.recommend(default_recommendation(session.observed, session.objective))


class RandomSearch:
    """Candidates in a seeded random order, each trained and tuned fully; the incumbent as it goes."""

    name = "random"
    modes = ("constraint", "pareto")

    def run(self, session: ReplaySession, seed: int) -> None:
        order = np.random.default_rng(seed).permutation(len(session.table.candidates))
        for index in order:
            _train_and_tune_fully(session, session.table.candidates[int(index)].id)
