"""Every method over many seeds on one table, and the summary `sonar bench replay` prints.

Speedup for one seed = brute-force cost (every candidate trained and tuned to the end, one worker)
divided by the method's cost to reach regret <= threshold and stay there. A seed that never gets
there within the brute-force budget is a failure; failures enter the quantiles as speedup 0, so a
method that fails on half the seeds has a median of 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sonar.bench.methods import BruteForce, Method, RandomSearch
from sonar.bench.regret import Objective, Scorer, cost_to_regret
from sonar.bench.replay import BudgetExhausted, ReplaySession, TracePoint
from sonar.bench.table import BenchTable

THRESHOLD = 0.01
EXACT = 1e-9  # regret 0 up to float rounding: the true best pick


@dataclass(kw_only=True)
class MethodRuns:
    name: str
    traces: list[list[TracePoint]]  # one per seed

    def costs(self, threshold: float) -> list[float]:
        return [cost_to_regret([(p.seconds, p.regret) for p in trace], threshold) for trace in self.traces]


def run_method(table: BenchTable, objective: Objective, method: Method, seed: int,
               scorer: Scorer | None = None) -> list[TracePoint]:
    session = ReplaySession(table, objective, scorer=scorer)
    try:
        method.run(session, seed)
    except BudgetExhausted:
        pass
    return session.finish()


def replay_all(table: BenchTable, objective: Objective, methods: Sequence[Method], seeds: Sequence[int],
               progress=None) -> list[MethodRuns]:
    scorer = Scorer(table, objective)
    runs = []
    for method in methods:
        traces = []
        for seed in seeds:
            traces.append(run_method(table, objective, method, seed, scorer))
            if progress is not None:
                progress(method.name, seed)
        runs.append(MethodRuns(name=method.name, traces=traces))
    return runs


def summarize(table: BenchTable, runs: Sequence[MethodRuns], threshold: float = THRESHOLD) -> dict:
    """Per method: the speedup at regret <= `threshold` (the headline), and the same at regret 0 (the
    true best pick found and kept): on a table whose losses lie close together, 1% admits several
    candidates, and the exact figure shows whether a method finds the best one or only a near one."""
    brute = table.brute_force_seconds
    summary = {}
    for run in runs:
        costs = run.costs(threshold)
        exact = run.costs(EXACT)
        reached = [c for c in costs if math.isfinite(c)]
        final = [trace[-1] for trace in run.traces]
        p25, median, p75 = _speedup_quantiles(brute, costs)
        exact_p25, exact_median, exact_p75 = _speedup_quantiles(brute, exact)
        summary[run.name] = {
            "speedup_at_1pct_median": median, "speedup_at_1pct_p25": p25, "speedup_at_1pct_p75": p75,
            "failures": len(costs) - len(reached),
            "speedup_at_best_median": exact_median, "speedup_at_best_p25": exact_p25,
            "speedup_at_best_p75": exact_p75, "failures_at_best": sum(not math.isfinite(c) for c in exact),
            "infeasible_final_picks": sum(p.infeasible for p in final),
            "seeds": len(costs),
            "cost_to_1pct_median_s": float(np.median(reached)) if reached else math.inf,
            "final_regret_median": float(np.median([p.regret for p in final])),
            "spent_median_s": float(np.median([trace[-1].seconds for trace in run.traces])),
        }
    return summary


def _speedup_quantiles(brute: float, costs: Sequence[float]) -> tuple[float, float, float]:
    speedups = [brute / c if math.isfinite(c) and c > 0 else (math.inf if c == 0 else 0.0) for c in costs]
    return tuple(float(np.percentile(speedups, q)) for q in (25, 50, 75))


def default_methods(mode: str) -> tuple[list[Method], list[str]]:
    """Every method this install can run in `mode`, and a note for each one left out."""
    from sonar.bench.engine_method import engine_methods
    from sonar.bench.optuna_peer import optuna_available, optuna_peers
    from sonar.bench.synetune_peer import INSTALL_HINT, synetune_available, synetune_peers

    methods: list[Method] = [BruteForce(), RandomSearch()]
    notes = []
    methods += engine_methods()
    if optuna_available():
        methods += optuna_peers()
    else:
        notes.append("optuna is not installed: pip install 'sonar[bench]'")
    if synetune_available():
        methods += synetune_peers()
    else:
        notes.append(INSTALL_HINT)
    kept = [m for m in methods if mode in m.modes]
    notes += [f"{m.name} does not handle {mode} mode" for m in methods if mode not in m.modes]
    return kept, notes
