"""Every method over many seeds on one table, and the summary `sonar bench replay` prints.

Speedup for one seed = brute-force cost (every candidate trained and tuned to the end, one worker)
divided by the method's cost to reach a criterion and stay there: regret <= 1%, a gap <= 10% of the
feasible loss range, a pick among the top 3 feasible candidates, the exact best. A seed that never
gets there within the brute-force budget is a failure; failures enter the quantiles as speedup 0, so
a method that fails on half the seeds has a median of 0. The anytime area (regret.anytime_area)
summarises the whole regret-vs-cost curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sonar.bench.methods import BruteForce, Method, RandomFeasible, RandomSearch
from sonar.bench.recommend import DEFAULT_RULE
from sonar.bench.regret import Objective, Scorer, anytime_area, cost_to_regret
from sonar.bench.replay import BudgetExhausted, ReplaySession, TracePoint
from sonar.bench.table import BenchTable

THRESHOLD = 0.01
GAP_THRESHOLD = 0.10  # the stricter criterion: within 10% of the feasible loss range
TOP = 3  # the top-3 criterion: the pick is one of the 3 best feasible candidates
EXACT = 1e-9  # regret 0 up to float rounding: the true best pick
# criterion -> (what the trace point gives, the threshold it must reach and keep)
CRITERIA = {
    "1pct": (lambda p: p.regret, THRESHOLD),
    "gap10": (lambda p: p.gap, GAP_THRESHOLD),
    "top3": (lambda p: math.inf if p.rank is None else p.rank, TOP - 1),
    "best": (lambda p: p.regret, EXACT),
}


@dataclass(kw_only=True)
class MethodRuns:
    name: str
    traces: list[list[TracePoint]]  # one per seed

    def costs(self, threshold: float) -> list[float]:
        return [cost_to_regret([(p.seconds, p.regret) for p in trace], threshold) for trace in self.traces]


def run_method(table: BenchTable, objective: Objective, method: Method, seed: int,
               scorer: Scorer | None = None, *, rule: str = DEFAULT_RULE) -> list[TracePoint]:
    return run_method_rules(table, objective, method, seed, scorer, rules=(rule,))[rule]


def run_method_rules(table: BenchTable, objective: Objective, method: Method, seed: int,
                     scorer: Scorer | None = None, *, rules: Sequence[str]) -> dict[str, list[TracePoint]]:
    """One run of `method`, its trace scored under each recommendation rule."""
    session = ReplaySession(table, objective, scorer=scorer, rule=rules[0], also_rules=tuple(rules[1:]))
    try:
        method.run(session, seed)
    except BudgetExhausted:
        pass
    session.finish()
    return session.traces


def check_methods(table: BenchTable, objective: Objective, methods: Sequence[Method]) -> None:
    """Refuse a table one of `methods` cannot replay (those that can tell: a `check(table, objective)`) before the
    first replay, rather than after the methods before it have run."""
    for method in methods:
        check = getattr(method, "check", None)
        if check is not None:
            check(table, objective)


def replay_all(table: BenchTable, objective: Objective, methods: Sequence[Method], seeds: Sequence[int],
               progress=None, *, rule: str = DEFAULT_RULE) -> list[MethodRuns]:
    scorer = Scorer(table, objective)
    check_methods(table, objective, methods)
    runs = []
    for method in methods:
        traces = []
        for seed in seeds:
            traces.append(run_method(table, objective, method, seed, scorer, rule=rule))
            if progress is not None:
                progress(method.name, seed)
        runs.append(MethodRuns(name=method.name, traces=traces))
    return runs


def seed_criteria(trace: Sequence[TracePoint], brute_s: float) -> dict:
    """One seed's figures: the speedup (brute / cost to reach and keep it; 0: never) per criterion,
    the anytime area, and how the run ended."""
    row = {}
    for name, (value, threshold) in CRITERIA.items():
        cost = cost_to_regret([(p.seconds, value(p)) for p in trace], threshold)
        row[f"speedup_{name}"] = _speedup(brute_s, cost)
    row["anytime_area"] = anytime_area([(p.seconds, p.gap) for p in trace], brute_s)
    row["final_regret"] = trace[-1].regret
    row["final_infeasible"] = trace[-1].infeasible
    row["spent_s"] = trace[-1].seconds
    return row


def summarize(table: BenchTable, runs: Sequence[MethodRuns]) -> dict:
    """Per method: the speedup at regret <= `threshold` (the headline), and the same at regret 0 (the
    true best pick found and kept): on a table whose losses lie close together, 1% admits several
    candidates, and the exact figure shows whether a method finds the best one or only a near one."""
    brute = table.brute_force_seconds
    summary = {}
    for run in runs:
        costs = run.costs(THRESHOLD)
        reached = [c for c in costs if math.isfinite(c)]
        row = summarize_seeds([seed_criteria(trace, brute) for trace in run.traces])
        row["cost_to_1pct_median_s"] = float(np.median(reached)) if reached else math.inf
        summary[run.name] = row
    return summary


def summarize_seeds(rows: Sequence[dict]) -> dict:
    """Quantiles over seeds of `seed_criteria` rows. Keys: speedup_at_{1pct,gap10,top3,best}_{p25,median,p75},
    failures_at_{...}, anytime_area_{p25,median,p75}, infeasible_final_picks, seeds, final_regret_median,
    spent_median_s; failures (at 1%) as before."""
    out: dict = {"seeds": len(rows)}
    for name in CRITERIA:
        speedups = [r[f"speedup_{name}"] for r in rows]
        p25, median, p75 = (float(np.percentile(speedups, q)) for q in (25, 50, 75))
        out.update({f"speedup_at_{name}_p25": p25, f"speedup_at_{name}_median": median,
                    f"speedup_at_{name}_p75": p75, f"failures_at_{name}": sum(s == 0.0 for s in speedups)})
    out["failures"] = out["failures_at_1pct"]
    areas = [r["anytime_area"] for r in rows]
    out.update({f"anytime_area_{k}": float(np.percentile(areas, q)) for k, q in (("p25", 25), ("median", 50),
                                                                              ("p75", 75))})
    out["infeasible_final_picks"] = sum(bool(r["final_infeasible"]) for r in rows)
    out["final_regret_median"] = float(np.median([r["final_regret"] for r in rows]))
    out["spent_median_s"] = float(np.median([r["spent_s"] for r in rows]))
    return out


def _speedup(brute: float, cost: float) -> float:
    if cost == 0:
        return math.inf
    return brute / cost if math.isfinite(cost) else 0.0


def default_methods(mode: str) -> tuple[list[Method], list[str]]:
    """Every method this install can run in `mode`, and a note for each one left out."""
    from sonar.bench.engine_method import engine_methods
    from sonar.bench.hyperband import HyperbandJoint
    from sonar.bench.optuna_peer import optuna_available, optuna_peers
    from sonar.bench.synetune_peer import INSTALL_HINT, synetune_available, synetune_peers

    methods: list[Method] = [BruteForce(), RandomSearch(), RandomFeasible(), HyperbandJoint()]
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
