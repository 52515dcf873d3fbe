"""What knowing the table buys: the least cost at which a method could have reached each criterion.

A method told the table in advance would train to the end only the candidates its recommendation
needs and measure only the configurations it recommends, each at that configuration's own trial cost
(a peer measures a single configuration; SONAR's sweeps also pay the trials before it). So:

    constraint mode, per criterion (regret <= 1%, gap <= 10%, top 3, exact best):
        cost = min over (candidate c, configuration i) meeting the bounds and the criterion of
               c's training to the end + trial i's own seconds
    Pareto mode, per hypervolume gap threshold:
        cost = min over sets S of front owners (each at its front configuration) whose recommended
               front meets the threshold of the sum of their costs as above
    oracle speedup = brute force / cost

The constraint figure is a ceiling for any method under the completed rule: nothing observed for
less can be recommended as complete. The Pareto search is exact over the candidates that own a point
of the true front; a cheaper set with near-front points may exist, so there the figure is what
knowing the front buys, not a proven ceiling. Scoring is the benchmark's own (regret.Scorer), so the
oracle meets a criterion exactly when a method's recommendation would.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sonar.bench.regret import Objective, Pick, Scorer, non_dominated
from sonar.bench.runner import CRITERIA
from sonar.bench.table import BenchTable

PARETO_THRESHOLDS = {"1pct": 0.01, "gap10": 0.10}  # the Pareto suite's criteria (hypervolume gap)
EXACT_SET_LIMIT = 16  # front owners searched exactly (2^16 sets); beyond, cheapest-first greedy


@dataclass(frozen=True, kw_only=True)
class OracleCell:
    criterion: str
    cost_s: float  # inf: no pick meets it
    picks: tuple[Pick, ...]

    def speedup(self, brute_s: float) -> float:
        return brute_s / self.cost_s if math.isfinite(self.cost_s) and self.cost_s > 0 else 0.0


def pair_cost(table: BenchTable, pick: Pick) -> float:
    record = table.candidate(pick.candidate_id)
    return record.train_seconds + record.trial_cost(pick.trial)


def constraint_oracle(table: BenchTable, objective: Objective) -> dict[str, OracleCell]:
    """Per criterion of the benchmark (runner.CRITERIA), the cheapest single pick meeting it."""
    scorer = Scorer(table, objective)
    pairs = [Pick(candidate_id=c.id, trial=i) for c in table.candidates for i, t in enumerate(c.tuning)
             if objective.feasible(t)]
    scored = [(pair_cost(table, p), p, scorer.score(p)) for p in pairs]
    cells = {}
    for name, (value, threshold) in CRITERIA.items():
        meeting = [(cost, pick) for cost, pick, score in scored if _meets(value, score, threshold)]
        cost, pick = min(meeting, key=lambda m: m[0]) if meeting else (math.inf, None)
        cells[name] = OracleCell(criterion=name, cost_s=cost, picks=(pick,) if pick else ())
    return cells


def _meets(value, score, threshold: float) -> bool:
    # CRITERIA's getters read a trace point's regret, gap and rank; a Score carries the same fields.
    return value(score) <= threshold


def pareto_oracle(table: BenchTable, objective: Objective,
                  thresholds: dict[str, float] = PARETO_THRESHOLDS) -> dict[str, OracleCell]:
    """Per hypervolume gap threshold, the cheapest set of front owners whose front meets it."""
    scorer = Scorer(table, objective)
    points, picks = [], []
    for c in table.candidates:
        for i, t in enumerate(c.tuning):
            if objective.acceptable(t):
                points.append((c.final_val_loss, math.log(t.latency_s)))
                picks.append(Pick(candidate_id=c.id, trial=i))
    owners: dict[str, Pick] = {}
    for k in non_dominated(points):  # one front point per candidate: its fastest acceptable config
        owners.setdefault(picks[k].candidate_id, picks[k])
    options = sorted(owners.values(), key=lambda p: pair_cost(table, p))
    return {name: _cheapest_set(table, scorer, options, threshold, name) for name, threshold in thresholds.items()}


def _cheapest_set(table: BenchTable, scorer: Scorer, options: Sequence[Pick], threshold: float,
                  name: str) -> OracleCell:
    costs = [pair_cost(table, p) for p in options]
    if len(options) > EXACT_SET_LIMIT:  # greedy: add the cheapest owners until the front is close enough
        for size in range(1, len(options) + 1):
            if scorer.score(list(options[:size])).gap <= threshold:
                return OracleCell(criterion=name, cost_s=sum(costs[:size]), picks=tuple(options[:size]))
        return OracleCell(criterion=name, cost_s=math.inf, picks=())
    best = OracleCell(criterion=name, cost_s=math.inf, picks=())
    for size in range(1, len(options) + 1):
        for subset in itertools.combinations(range(len(options)), size):
            cost = sum(costs[i] for i in subset)
            if cost < best.cost_s and scorer.score([options[i] for i in subset]).gap <= threshold:
                best = OracleCell(criterion=name, cost_s=cost, picks=tuple(options[i] for i in subset))
    return best
