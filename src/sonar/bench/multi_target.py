"""Two targets whose latency rankings disagree, replayed: SONAR's speedup over brute force per target.

The server's table is a synthetic one (bench/synthetic.py). The laptop's holds the same candidates
and learning curves, and each tuning trial's latency times (total / active parameters) **
LAPTOP_EXPONENT: a laptop decoding at batch 1 from memory that holds every expert reads far more of
a mixture-of-experts model per token than its active parameters, so the candidates that are fast on
the server are not the fast ones there, and each target's best candidate within its bound (its
bound: the table's feasible-share quantile of its own best latencies) is its own.

Brute force trains every candidate once and tunes it to the end on both targets. SONAR is the
search engine itself with both targets (`across_targets: each`) on the simulated executor, each
target's tuning read from its table; after every engine turn, what the engine has observed on each
target is scored against that target's table by the benchmark's recommendation rule, as every
single-target replay is (engine_method.py). A target's cost is when its regret first drops to 1%
and stays there; the speedup is brute force's cost over it.

    python -m sonar.bench.multi_target [--candidates 64] [--seeds 5] [--out benchmarks/multi-target.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
from pathlib import Path

from sonar.bench.engine_method import EngineTrainer, EngineTuner, engine_observations, replay_spec
from sonar.bench.regret import cost_to_regret, objective_from_table
from sonar.bench.replay import ReplaySession
from sonar.bench.runner import THRESHOLD
from sonar.bench.synthetic import synthetic_table
from sonar.bench.table import BenchTable
from sonar.model.params import count_parameters
from sonar.search.backends import Backend
from sonar.search.engine import run_search, start_search
from sonar.search.executors.simulated import SimulatedExecutor
from sonar.search.runner import execute
from sonar.search.target_views import target_state
from sonar.strict_json import finite_or_none

LAPTOP_EXPONENT = 1.0


def laptop_table(server: BenchTable) -> BenchTable:
    """The server's table with every trial's latency scaled by the candidate's total/active ratio."""
    records = []
    for record in server.candidates:
        counts = count_parameters(record.model)
        factor = (counts.total / counts.active) ** LAPTOP_EXPONENT
        tuning = tuple(dataclasses.replace(t, latency_s=t.latency_s * factor, spread_s=t.spread_s * factor,
                                           best_latency_s=t.best_latency_s * factor) for t in record.tuning)
        records.append(dataclasses.replace(record, tuning=tuning))
    provenance = {**server.header.provenance, "note": "the server table's trials, latency x (total/active) "
                  f"** {LAPTOP_EXPONENT} (sonar.bench.multi_target)"}
    return BenchTable(header=dataclasses.replace(server.header, provenance=provenance), candidates=tuple(records))


def brute_force_seconds(tables: dict[str, BenchTable]) -> float:
    """Every candidate trained once and tuned to the end on every target."""
    first = next(iter(tables.values()))
    return (sum(c.train_seconds for c in first.candidates)
            + sum(c.tune_seconds for table in tables.values() for c in table.candidates))


def replay_sonar(tables: dict[str, BenchTable], seed: int) -> dict[str, list]:
    """One SONAR run over both targets: each target's (seconds, regret) trace, scored on its own table."""
    objectives = {name: objective_from_table(table) for name, table in tables.items()}
    first = next(iter(tables))
    brute = brute_force_seconds(tables)  # the budget, as every replay's: brute force's cost
    raw = replay_spec(tables[first], objectives[first], scheduler="sonar", seed=seed, budget_s=brute)
    raw["targets"] = [{"name": name, "latency_s": objectives[name].latency_limit_s} for name in tables]
    trainer = EngineTrainer(tables[first])
    tuners = {name: EngineTuner(table, objectives[name]) for name, table in tables.items()}
    backend = Backend(trainer=trainer, tuner=tuners[first],
                      target_tuners={name: tuner for name, tuner in tuners.items() if name != first})
    executor = SimulatedExecutor(1, run=lambda payload: execute(payload, backend), overhead_s=0.0)
    sessions = {name: ReplaySession(table, objectives[name], budget_s=brute) for name, table in tables.items()}

    def observe(state) -> None:
        for target in state.spec.targets:
            view = target_state(state, target)
            sessions[target.name].observe_at(executor.now(), engine_observations(view, trainer))

    with tempfile.TemporaryDirectory(prefix="sonar-multi-target-") as tmp:
        start_search(raw, Path(tmp) / "run").close()
        run_search(Path(tmp) / "run", executor, on_progress=observe)
    return {name: [(p.seconds, p.regret) for p in session.finish()] for name, session in sessions.items()}


def true_winners(tables: dict[str, BenchTable]) -> dict[str, str]:
    """Each target's best candidate within its bound, from the whole table (final loss, acceptable trials)."""
    winners = {}
    for name, table in tables.items():
        objective = objective_from_table(table)
        feasible = [c for c in table.candidates if any(objective.feasible(t) for t in c.tuning)]
        winners[name] = min(feasible, key=lambda c: c.curve[-1].val_loss).id
    return winners


def speedups(tables: dict[str, BenchTable], seeds: int) -> dict[str, dict]:
    """Per target: brute force's cost (over `tables`) / SONAR's cost to regret <= 1%, per seed (0: never)."""
    brute = brute_force_seconds(tables)
    values: dict[str, list[float]] = {name: [] for name in tables}
    for seed in range(seeds):
        for name, trace in replay_sonar(tables, seed).items():
            cost = cost_to_regret(trace, THRESHOLD)
            values[name].append(brute / cost if math.isfinite(cost) and cost > 0 else 0.0)
    return {name: {"per_seed": v, "median": statistics.median(v), "min": min(v)} for name, v in values.items()}


def measure(candidates: int = 64, seeds: int = 5, table_seed: int = 0) -> dict:
    """The two-target search, and for reference each target searched alone (against its own brute force)."""
    server = synthetic_table(candidates=candidates, seed=table_seed)
    tables = {"server": server, "laptop": laptop_table(server)}
    return {"candidates": candidates, "seeds": seeds, "table_seed": table_seed, "threshold": THRESHOLD,
            "brute_force_s": brute_force_seconds(tables), "true_winners": true_winners(tables),
            "speedup_at_1pct": speedups(tables, seeds),
            "alone_speedup_at_1pct": {name: speedups({name: table}, seeds)[name] for name, table in tables.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--table-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args(argv)
    text = json.dumps(finite_or_none(measure(args.candidates, args.seeds, args.table_seed)), indent=1)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
