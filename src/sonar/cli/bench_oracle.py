"""`sonar bench oracle`: what knowing a table in advance would buy, per bound and criterion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sonar.cli.bench_group import bench_app
from sonar.cli.bench_suite import find_table_files, quantile_list


@bench_app.command("oracle")
def oracle(
    tables: Annotated[list[Path], typer.Argument(metavar="TABLE_OR_DIR...",
                                                 help="tables written by `sonar bench build`, or directories of them")],
    quantiles: str = typer.Option("0.25,0.5,0.75", help="latency bounds, as quantiles of the table's latencies"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """The least cost at which any method could reach each criterion (sonar.bench.oracle): a method
    that knew the table would train and measure only its pick. A ceiling for every method's speedup
    under the completed rule; Pareto mode is searched over the true front's owners."""
    from sonar.bench.oracle import constraint_oracle, pareto_oracle
    from sonar.bench.regret import objective_from_table
    from sonar.bench.suite import refuse_repeated_tables
    from sonar.bench.table import load_table

    bounds = quantile_list(quantiles)
    refuse_repeated_tables(tables)
    # the directories `suite` and `ablate` take (a synth-suite's output) name the same tables here
    tables = find_table_files(tables)
    report = {}
    for path in tables:
        table = load_table(path)
        brute = table.brute_force_seconds
        rows = {}
        for q in bounds:
            cells = constraint_oracle(table, objective_from_table(table, mode="constraint", latency_limit_quantile=q))
            rows[f"constraint q={q:g}"] = {k: c.speedup(brute) for k, c in cells.items()}
        rows["pareto"] = {k: c.speedup(brute) for k, c in pareto_oracle(table, objective_from_table(
            table, mode="pareto")).items()}
        report[str(path)] = {"brute_force_s": brute, "oracle_speedup": rows}
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for path, entry in report.items():
        print(f"{path} (brute force {entry['brute_force_s']:.0f} s): oracle speedup")
        for bound, cells in entry["oracle_speedup"].items():
            print(f"  {bound:>18}: " + "  ".join(f"{k} {v:.1f}x" for k, v in cells.items()))
