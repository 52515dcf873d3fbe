"""`sonar bench suite`: every method on every table, bound and rule; one scoreboard, stamped JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sonar.cli.bench_group import bench_app
from sonar.errors import UserError


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"{name} {text!r}: expected comma-separated numbers, e.g. 0.25,0.5,0.75") from None


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in text.split(",") if v.strip()) if text else None


@bench_app.command("suite")
def suite(
    tables: Annotated[list[Path], typer.Argument(metavar="TABLE_OR_DIR...", help="tables, or directories of them")],
    out: Annotated[Path, typer.Option("--out", help="scoreboard JSON to write")] = Path("bench-suite.json"),
    work: Annotated[Path | None, typer.Option("--work", help="per-cell results (JSON lines; a rerun resumes"
                                                             " from it); default: OUT with .work.jsonl")] = None,
    seeds: int = typer.Option(5, help="seeds per (table, bound, rule, method)"),
    quantiles: str = typer.Option("0.25,0.5,0.75", help="latency bounds as quantiles of the candidates'"
                                                        " best latencies"),
    rules: str = typer.Option("completed,checkpoint", help="recommendation rules (sonar.bench.recommend)"),
    methods: str = typer.Option(None, help="comma-separated method names (default: all available)"),
    jobs: int = typer.Option(2, help="worker processes"),
) -> None:
    """Replay every method on every table, latency bound and recommendation rule; print one scoreboard."""
    from sonar.bench.suite import SuiteSettings, find_tables, run_suite, suite_result

    settings = SuiteSettings(tables=find_tables(tables), seeds=seeds, quantiles=_floats(quantiles, "--quantiles"),
                             rules=_names(rules) or (), methods=_names(methods), jobs=jobs)
    work = work or out.with_name(out.name.removesuffix(".json") + ".work.jsonl")
    console = Console(width=None if sys.stdout.isatty() else 160)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("suite", total=None)

        def report(done: int, total: int, text: str) -> None:
            progress.update(task, completed=done, total=total, description=text)

        rows = run_suite(settings, work, progress=report)
    result = suite_result(settings, rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    print_scoreboard(console, result)
    console.print(f"{len(rows)} cells ({work}); scoreboard -> {out}")


def _x(value) -> str:
    return "inf" if value is None else f"{value:.1f}x"


def print_scoreboard(console: Console, result: dict) -> None:
    s = result["settings"]
    table = Table(title=f"{len(s['tables'])} tables x bounds {s['quantiles']}, {s['seeds']} seeds: median over"
                        " (table, bound) of the median over seeds; failed seeds summed")
    for column in ("rule", "method", "1%", "fail", "gap<=10%", "fail", "top 3", "fail", "exact best", "fail",
                   "anytime area"):
        table.add_column(column, justify="left" if column in ("rule", "method") else "right", no_wrap=True)
    for rule, methods in result["methods"].items():
        for name, row in methods.items():
            table.add_row(rule, name, _x(row["speedup_1pct"]), str(row["failures_speedup_1pct"]),
                          _x(row["speedup_gap10"]), str(row["failures_speedup_gap10"]),
                          _x(row["speedup_top3"]), str(row["failures_speedup_top3"]),
                          _x(row["speedup_best"]), str(row["failures_speedup_best"]),
                          f"{row['anytime_area']:.3f}")
    console.print(table)
    for rule, ahead in result["sonar_ahead"].items():
        if ahead["cells"]:
            console.print(f"{rule}: SONAR ahead of every peer in {ahead['speedup_1pct']:.0%} of {ahead['cells']}"
                          f" (table, bound) cells at 1%, {ahead['speedup_gap10']:.0%} at gap <= 10%")
    console.print("speedup = brute-force cost / cost to reach the criterion and keep it (0x: never); anytime area:"
                  " mean of min(1, normalised gap) over log cost from brute/1000 to brute (lower is better)")
