"""`sonar bench suite`: every method on every table, bound and rule; one scoreboard, stamped JSON."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sonar import strict_json
from sonar.cli.bench_group import bench_app
from sonar.cli.bench_method_flags import (
    PARETO_ONLY_RULES,
    check_mode_flag,
    check_rule_flag,
    check_suite_methods,
    check_variants,
    listed_names,
    refuse_rules_idle_in,
)
from sonar.cli.lists import ascii_number
from sonar.data.cache import write_atomic
from sonar.errors import UserError
from sonar.outdir import refuse_file_ancestor
from sonar.strict_json import dumps_strict

LOG_STEPS = 20  # a log (not a terminal) gets a progress line each twentieth of the cells


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(ascii_number(v)) for v in text.split(","))
    except ValueError:
        values = ()
    if not values:
        raise UserError(f"{name} {text!r}: expected comma-separated numbers, e.g. 0.25,0.5,0.75")
    if len(set(values)) < len(values):  # a bound named twice would count twice in every median
        raise UserError(f"{name} {text!r}: a value is repeated; give each once")
    return values


def quantile_list(text: str, name: str = "--quantiles") -> tuple[float, ...]:
    """Latency-bound quantiles, each strictly between 0 and 1 (as `bench oracle` has always required):
    0 leaves one feasible candidate and 1 bounds nothing."""
    values = _floats(text, name)
    if any(not 0 < q < 1 for q in values):
        raise UserError(f"{name} {text!r}: each must lie strictly between 0 and 1")
    return values


def _work_path(out: Path, work: Path | None) -> Path:
    """--work, or beside --out: OUT with .work.jsonl. An --out naming no file ('.', '/') is refused here."""
    if out.name in ("", ".", ".."):
        raise UserError(f"--out {out}: names a directory, not a file; name the JSON file to write, e.g. "
                        f"{out / 'scores.json'}")
    return work or out.with_name(out.name.removesuffix(".json") + ".work.jsonl")


def refuse_dangling_link(path: Path, flag: str, advice: str) -> None:
    """An output named by a link to nowhere: writing replaced the user's link with the file, without a word."""
    if path.is_symlink() and not path.exists():
        raise UserError(f"{flag} {path}: is a link to {os.readlink(path)}, which does not exist; {advice}")


def _check_outputs(out: Path, work: Path, tables: tuple[Path, ...]) -> None:
    """Checked before any replay: the JSON and the work file are files, and the work file (appended to)
    is none of the input tables, nor a file that is not text."""
    inputs = {t.resolve() for t in tables}
    for flag, path in (("--out", out), ("--work", work)):
        refuse_dangling_link(path, flag, "name the file's own path")
        if path.is_dir():
            raise UserError(f"{flag} {path}: is a directory; name a file")
        if path.exists() and not path.is_file():  # a FIFO: the first write waited for a reader forever
            raise UserError(f"{flag} {path}: exists and is not a regular file (a FIFO, device or socket); name a "
                            "new file")
        refuse_file_ancestor(path, flag)
    if out.resolve() in inputs:
        raise UserError(f"--out {out}: is an input table; name a separate JSON file")
    if out.is_file() and not _written_by_us(out):
        # the JSON is rewritten whole: only an earlier scoreboard may be replaced, never a user's file
        raise UserError(f"--out {out}: exists and is not a scoreboard or ablation JSON; name a new file")
    if work.resolve() in inputs or work.resolve() == out.resolve():
        raise UserError(f"--work {work}: is an input table or --out; name a separate work file")
    if work.is_file():
        try:
            work.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise UserError(f"--work {work}: not a UTF-8 JSON-lines work file (byte offset {err.start});"
                            " name a new work file") from None


def _written_by_us(path: Path) -> bool:
    """A scoreboard or ablation JSON from an earlier run: an object with the settings it was run with."""
    try:
        data = strict_json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("settings"), dict)


def find_table_files(paths: list[Path]) -> tuple[Path, ...]:
    """find_tables, with every table a regular file: a directory's entries are taken by their names, and one named
    like a table that was a folder or a dangling link failed as a traceback when its digest was taken, a FIFO
    waited for a writer forever; a FIFO named itself was "no such table file or directory"."""
    from sonar.bench.suite import find_tables

    for path in paths:
        if path.exists() and not path.is_file() and not path.is_dir():
            raise UserError(f"{path}: not a regular file (a FIFO, device or socket); a benchmark table is a JSON-lines"
                            " file")
    try:
        tables = find_tables(paths)
    except UserError as err:
        if not str(err).startswith("no table ("):
            raise
        # else "no table (*.jsonl, *.jsonl.gz) in ['run']", a Python list of what was typed
        raise UserError(f"{' '.join(str(path) for path in paths)}: no table (*.jsonl, *.jsonl.gz) there; name tables"
                        " written by `sonar bench build`, or folders holding them") from None
    for table in tables:
        if table.is_symlink() and not table.exists():
            raise UserError(f"{table}: a link to {os.readlink(table)}, which does not exist")
        if not table.is_file():
            raise UserError(f"{table}: not a regular file (a directory, FIFO, device or socket); a benchmark table"
                            " is a JSON-lines file")
    return tables


def check_replay_counts(seeds: int, jobs: int | None = None) -> None:
    """--seeds and --jobs, before any table is read: the suite's own settings refused them as `seeds=0` and
    `jobs=0`, keywords the user never typed."""
    from sonar.bench.suite import MAX_JOBS, MAX_SEEDS

    if not 1 <= seeds <= MAX_SEEDS:
        raise UserError(f"--seeds {seeds}: must be between 1 and {MAX_SEEDS:,}")
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise UserError(f"--jobs {jobs}: must be between 1 and {MAX_JOBS:,}")


@bench_app.command("suite")
def suite(
    tables: Annotated[list[Path], typer.Argument(metavar="TABLE_OR_DIR...", help="tables, or directories of them")],
    out: Annotated[Path, typer.Option("--out", help="scoreboard JSON to write")] = Path("bench-suite.json"),
    work: Annotated[Path | None, typer.Option("--work", help="per-cell results (JSON lines; a rerun resumes"
                                                             " from it); default: OUT with .work.jsonl")] = None,
    seeds: int = typer.Option(5, help="seeds per (table, bound, rule, method)"),
    quantiles: str = typer.Option(None, help="latency bounds as quantiles of the candidates' best latencies"
                                             " (constraint mode; default 0.25,0.5,0.75)"),
    rules: str = typer.Option("completed,checkpoint", help="recommendation rules (sonar.bench.recommend)"),
    methods: str = typer.Option(None, help="comma-separated method names (default: all available in the mode)"),
    jobs: int = typer.Option(2, help="worker processes"),
    mode: str = typer.Option("constraint", help="constraint (a latency bound per quantile) | pareto (no bound:"
                                                " the hypervolume gap of the recommended front)"),
) -> None:
    """Replay every method on every table, latency bound and recommendation rule; print one scoreboard."""
    from sonar.bench.suite import QUANTILES, SuiteSettings, run_suite, suite_result

    check_replay_counts(seeds, jobs)
    check_mode_flag(mode)
    if mode == "pareto" and quantiles is not None:
        raise UserError(f"--quantiles {quantiles}: Pareto mode has no latency bound; drop --quantiles")
    bounds = quantile_list(quantiles) if quantiles is not None else QUANTILES
    rule_names, method_names = listed_names(rules, "--rules"), listed_names(methods, "--methods")
    check_rule_flag(rule_names, "--rules", rules)
    check_suite_methods(method_names, methods, mode)
    check_variants(method_names, mode)
    settings = SuiteSettings(tables=find_table_files(tables), seeds=seeds, quantiles=bounds, rules=rule_names,
                             methods=method_names, jobs=jobs, mode=mode)
    work = _work_path(out, work)
    _check_outputs(out, work, settings.tables)
    console = Console(width=None if sys.stdout.isatty() else 160)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("suite", total=None)

        rows = run_suite(settings, work, progress=_cell_progress(progress, task, console))
    result = suite_result(settings, rows)
    # a staging file of its own (OUT.tmp was a fixed name: a user's file of that name was overwritten)
    write_atomic(out, (json.dumps(result, indent=2) + "\n").encode())
    print_scoreboard(console, result)
    console.print(f"{len(rows)} cells ({work}); scoreboard -> {out}")


def _cell_progress(progress: Progress, task, console: Console):
    """The suite's progress callback: the bar on a terminal, and a line each twentieth of the cells in a log,
    where the transient bar shows nothing until the end."""
    logged = [-1]

    def report(done: int, total: int, text: str) -> None:
        progress.update(task, completed=done, total=total, description=text)
        step = done * LOG_STEPS // max(total, 1)
        if not console.is_terminal and step > logged[0]:
            logged[0] = step
            console.print(f"{datetime.now():%H:%M:%S} {done}/{total} cells: {text}")

    return report


def _x(value) -> str:
    return "inf" if value is None else f"{value:.1f}x"


SPEEDUP_COLUMNS = {"speedup_1pct": "1%", "speedup_gap10": "gap<=10%", "speedup_top3": "top 3",
                   "speedup_best": "exact best"}


def print_scoreboard(console: Console, result: dict) -> None:
    from sonar.bench.suite import MODE_SPEEDUPS

    s = result["settings"]
    pareto = s["mode"] == "pareto"
    where = "Pareto mode (no bound; hypervolume gap)" if pareto else f"bounds {s['quantiles']}"
    table = Table(title=f"{len(s['tables'])} tables x {where}, {s['seeds']} seeds: median over (table, bound) of"
                        " the median over seeds; failed seeds summed")
    speedups = MODE_SPEEDUPS[s["mode"]]
    for column in ("rule", "method", *(c for k in speedups for c in (SPEEDUP_COLUMNS[k], "fail")), "anytime area"):
        table.add_column(column, justify="left" if column in ("rule", "method") else "right", no_wrap=True)
    for rule, methods in result["methods"].items():
        for name, row in methods.items():
            figures = [c for k in speedups for c in (_x(row[k]), str(row[f"failures_{k}"]))]
            table.add_row(rule, name, *figures, f"{row['anytime_area']:.3f}")
    console.print(table)
    for rule, ahead in result["sonar_ahead"].items():
        if ahead["cells"]:
            console.print(f"{rule}: SONAR ahead of every peer in {ahead['speedup_1pct']:.0%} of {ahead['cells']}"
                          f" (table, bound) cells at 1%, {ahead['speedup_gap10']:.0%} at gap <= 10%")
    gap = "the hypervolume gap" if pareto else "normalised gap"
    console.print(f"speedup = brute-force cost / cost to reach the criterion and keep it (0x: never); anytime area:"
                  f" mean of min(1, {gap}) over log cost from brute/1000 to brute (lower is better)")


@bench_app.command("ablate")
def ablate(
    tables: Annotated[list[Path], typer.Argument(metavar="TABLE_OR_DIR...", help="tables, or directories of them")],
    out: Annotated[Path, typer.Option("--out", help="ablation JSON to write")] = Path("bench-ablate.json"),
    work: Annotated[Path | None, typer.Option("--work", help="per-cell results (JSON lines; a rerun resumes"
                                                             " from it); default: OUT with .work.jsonl")] = None,
    seeds: int = typer.Option(3, help="seeds per (table, bound, variant)"),
    quantiles: str = typer.Option("0.25,0.5,0.75", help="latency bounds as quantiles of the candidates'"
                                                        " best latencies"),
    rules: str = typer.Option("completed,checkpoint", help="recommendation rules (sonar.bench.recommend)"),
    switch: str = typer.Option(None, help="scheduler rules to flip one at a time, off if the policy uses them,"
                                          " on if not; A+B flips two together (default: every rule that acts"
                                          " in constraint mode)"),
    jobs: int = typer.Option(2, help="worker processes"),
) -> None:
    """Each SONAR rule switched off in turn over a suite: its contribution, judged leave-one-table-out."""
    from sonar.bench.ablate import CRITERIA, ablation, variant
    from sonar.bench.suite import SONAR, SuiteSettings, run_suite, stamp
    from sonar.search.schedulers.policy import RULE_NAMES, SONAR_RULES

    check_replay_counts(seeds, jobs)
    rule_names = listed_names(rules, "--rules")
    check_rule_flag(rule_names, "--rules", rules)
    chosen = listed_names(switch, "--switch") or tuple(r for r in RULE_NAMES if r not in PARETO_ONLY_RULES)
    unknown = sorted({name for group in chosen for name in group.split("+")} - set(RULE_NAMES))
    if unknown:  # was "--switch ['nope']: unknown rules", a Python list rather than what was typed
        raise UserError(f"--switch {switch!r}: unknown scheduler rule {', '.join(unknown)}; known:"
                        f" {', '.join(RULE_NAMES)}")
    repeated = [group for group in chosen if len(set(group.split("+"))) < len(group.split("+"))]
    if repeated:  # A+A flips A alone under another name: a second, identical variant to replay
        raise UserError(f"--switch {repeated[0]!r}: names a rule twice; give each rule of a group once")
    for group in chosen:
        refuse_rules_idle_in("constraint", group.split("+"), "--switch", group, replays="ablate replays",
                             advice="leave it out")
    settings = SuiteSettings(tables=find_table_files(tables), seeds=seeds, quantiles=quantile_list(quantiles),
                             rules=rule_names, methods=(SONAR, *map(variant, chosen)), jobs=jobs)
    work = _work_path(out, work)
    _check_outputs(out, work, settings.tables)
    if len(settings.tables) < 2:  # with one table there is no other to decide from: every verdict would read "NO"
        raise UserError("one table given: each rule is judged leave-one-table-out, so ablate needs at least two "
                        "tables (or a directory of them)")
    console = Console(width=None if sys.stdout.isatty() else 160)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("ablate", total=None)
        rows = run_suite(settings, work, progress=_cell_progress(progress, task, console))
    report = ablation(rows, chosen)
    result = {"stamp": stamp(), "settings": {"tables": [str(t) for t in settings.tables], "seeds": seeds,
                                             "quantiles": list(settings.quantiles), "rules": list(settings.rules)},
              "policy": {rule: getattr(SONAR_RULES, rule) for rule in RULE_NAMES}, "ablation": report}
    write_atomic(out, (dumps_strict(result, indent=2) + "\n").encode())
    table = Table(title=f"SONAR with one rule flipped: {len(settings.tables)} tables, {seeds} seeds; contribution ="
                        " geometric mean over tables of the ratio policy/flipped (tables helped/hurt); > 1: the"
                        " policy's choice for the rule pays")
    table.add_column("rule", no_wrap=True)
    for criterion in CRITERIA:
        for column in ("contribution", "held-out gain if dropped", "kept in folds", "earns place"):
            table.add_column(f"{criterion} {column}", justify="right")
    for rule, by_criterion in report.items():
        cells = []
        for criterion in CRITERIA:
            r = by_criterion[criterion]
            cells += ["-"] * 4 if r["contribution"] is None else [
                f"{r['contribution']:.3f} ({r['helped']}/{r['hurt']})", f"{r['loto_gain']:.3f}",
                f"{r['kept_folds']:.0%}",
                "yes" if r["earns_place"] else "NO"]
        table.add_row(rule, *cells)
    console.print(table)
    console.print(f"{len(rows)} cells ({work}); ablation -> {out}")


@bench_app.command("figures")
def figures(
    scoreboard: Annotated[Path, typer.Option("--scoreboard", help="JSON written by `sonar bench suite`")],
    ablation: Annotated[Path | None, typer.Option("--ablation", help="JSON written by `sonar bench ablate`")] = None,
    pareto: Annotated[Path | None, typer.Option("--pareto", help="JSON written by `sonar bench suite --mode"
                                                                 " pareto`")] = None,
    readme: Annotated[Path, typer.Option("--readme", help="markdown whose figure blocks are rewritten")] = Path(
        "benchmarks/README.md"),
    check: bool = typer.Option(False, "--check", help="only check that the README matches the JSON (exit 1 if not)"),
) -> None:
    """Rewrite the README's figure blocks from the suite (constraint and Pareto) and ablation JSON."""
    from sonar.bench.figures import BLOCK, render, rewrite

    def load(path: Path, flag: str, keys: tuple[str, ...]) -> dict:
        if path.exists() and not path.is_file():  # a FIFO waited for a writer forever
            raise UserError(f"{flag} {path}: not a regular file (a directory, FIFO, device or socket)")
        try:
            data = strict_json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"{flag} {path}: cannot read the benchmark JSON ({err})") from None
        missing = [k for k in keys if k not in data] if isinstance(data, dict) else list(keys)
        if missing:  # checked here, so a wrong file is one line and not a KeyError deep in the rendering
            raise UserError(f"{flag} {path}: not the JSON its command writes (no {', '.join(missing)})")
        return data

    if readme.is_dir():  # else "no such file", of a path that is there
        raise UserError(f"--readme {readme}: is a directory; name the markdown file whose figure blocks are rewritten")
    if readme.exists() and not readme.is_file():  # a FIFO: reading it waited for a writer forever
        raise UserError(f"--readme {readme}: not a regular file (a FIFO, device or socket); name the markdown file")
    if not readme.is_file():
        raise UserError(f"--readme {readme}: no such file")
    try:
        text = readme.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"--readme {readme}: not UTF-8 text (byte offset {err.start})") from None
    suite_keys = ("settings", "tables", "cells", "methods", "sonar_ahead")
    constraint = load(scoreboard, "--scoreboard", suite_keys)
    if isinstance(constraint["settings"], dict) and constraint["settings"].get("mode") == "pareto":
        # else drawn into the constraint suite's blocks, under their headings (the --pareto JSON is checked the
        # other way round by the Pareto block)
        raise UserError(f"--scoreboard {scoreboard}: a suite run with --mode pareto; pass it as --pareto, and the"
                        " constraint suite's JSON as --scoreboard")
    inputs = (constraint,
              load(ablation, "--ablation", ("settings", "ablation")) if ablation else None,
              load(pareto, "--pareto", suite_keys) if pareto else None)
    try:  # the keys are there but what they hold was edited: one line, not a traceback from the rendering
        blocks = render(*inputs,
                        # the oracle reads the measured tables themselves; only a README that shows it asks for them
                        tables_root=Path.cwd() if "<!-- figures:oracle -->" in text else None)
    except UserError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as err:
        raise UserError(f"the benchmark JSON does not hold what its command writes ({type(err).__name__}: {err});"
                        " regenerate it with `make bench-figures`") from None
    closed = {m.group("name") for m in BLOCK.finditer(text)}
    unclosed = [name for name in sorted(blocks) if name not in closed and f"<!-- figures:{name} -->\n" in text]
    if unclosed:  # else reported as having no such block at all, while its opening line is right there
        name = unclosed[0]
        raise UserError(f"--readme {readme}: <!-- figures:{name} --> has no <!-- /figures:{name} --> after it;"
                        " close the block")
    try:
        updated = rewrite(text, blocks)
    except UserError as err:  # "README has no figure blocks ...", naming no file
        raise UserError(f"--readme {readme}: {err}") from None
    if check:
        if updated != text:
            Console(stderr=True).print(f"{readme} differs from what the JSON renders: run `make bench-figures`")
            raise typer.Exit(1)
        print(f"{readme}: every figure block matches the JSON")
        return
    readme.write_text(updated)
    print(f"{readme}: figure blocks rewritten")
