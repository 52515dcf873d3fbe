"""The method contract for replay, and the baselines computed directly on the table.

A method drives one ReplaySession (one seed) until it is done or the session raises
BudgetExhausted. It only trains, tunes and measures: what is recommended (and scored) is the
benchmark's rule applied to what it observed (sonar.bench.recommend), the same for every method.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sonar.bench.replay import ReplaySession


class Method(Protocol):
    name: str
    modes: tuple[str, ...]  # objective modes it handles

    def run(self, session: ReplaySession, seed: int) -> None: ...

    # optional: check(table, objective) -> None, refusing a table it cannot replay before any run (runner.check_methods)


def _train_and_tune_fully(session: ReplaySession, candidate_id: str) -> None:
    header = session.table.header
    session.train(candidate_id, header.max_steps)
    session.tune(candidate_id, len(session.table.candidate(candidate_id).tuning))


class BruteForce:
    """Trains and tunes every candidate to the end, in table order: zero regret at full cost."""

    name = "brute_force"
    modes = ("constraint", "pareto")

    def run(self, session: ReplaySession, seed: int) -> None:
        for candidate_id in session.table.ids:
            _train_and_tune_fully(session, candidate_id)


class RandomSearch:
    """Candidates in a seeded random order, each trained and tuned fully."""

    name = "random"
    modes = ("constraint", "pareto")

    def run(self, session: ReplaySession, seed: int) -> None:
        order = np.random.default_rng(seed).permutation(len(session.table.candidates))
        for index in order:
            _train_and_tune_fully(session, session.table.candidates[int(index)].id)


class RandomFeasible:
    """Random search with feasibility known for free: only candidates whose best acceptable latency
    meets the bound (Pareto: that have an acceptable config), in a seeded random order, each trained
    and tuned fully. It shows how much of a figure is feasibility screening alone."""

    name = "random_feasible"
    modes = ("constraint", "pareto")

    def run(self, session: ReplaySession, seed: int) -> None:
        keep = session.objective.feasible
        feasible = [c.id for c in session.table.candidates if any(keep(t) for t in c.tuning)]
        for index in np.random.default_rng(seed).permutation(len(feasible)):
            _train_and_tune_fully(session, feasible[int(index)])
