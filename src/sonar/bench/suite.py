"""`sonar bench suite`: every method on every table, latency bound and recommendation rule.

A *cell* is (mode, table, bound quantile, rule, method, seed); its result is one seed's criteria
(runner.seed_criteria). In constraint mode the bound quantile sets the latency limit; in Pareto mode
there is no limit (quantile None: one cell per table and rule), only the methods that handle Pareto
mode run, and the criteria are the hypervolume gap <= 1% and <= 10% and the anytime area.

Results are appended to a work file (JSON lines, one whole line per write, flushed and synced), so an
interrupted suite reruns only the cells it had not finished; a torn last line is ignored. Each row
records the sha256 of the table it was computed on, and a row whose table has changed since (a table
rebuilt or grown by `bench build --resume`) is rerun rather than reused; a row from before rows recorded
it is reused only where its brute-force cost is the table's. Cells run
in a process pool.

The scoreboard: per rule and method, for each criterion the median over (table, bound) of the median
over seeds, and the failed seeds summed; and per rule, the share of (table, bound) where SONAR's
median is ahead of every peer's (strictly faster), at regret <= 1% and at the normalised gap <= 10%.
A suite runs in one mode; the mode is part of every row's key, so rows of the two modes never mix.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import multiprocessing
import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from sonar import strict_json
from sonar.bench.code_digest import code_digest
from sonar.bench.recommend import RULES, check_rule
from sonar.bench.regret import MODES
from sonar.errors import UserError
from sonar.strict_json import finite_or_none

QUANTILES = (0.25, 0.5, 0.75)
MAX_SEEDS = 10_000  # seeds per cell: more than any figure needs; a larger count is a typo, not a request
MAX_JOBS = 1024  # worker processes, as a search's executor.workers: past it a count is a typo (10**20 overflowed)
SPEEDUPS = ("speedup_1pct", "speedup_gap10", "speedup_top3", "speedup_best")
# Pareto mode has no ranks (no top 3); its regret and gap are both the hypervolume gap.
MODE_SPEEDUPS = {"constraint": SPEEDUPS, "pareto": ("speedup_1pct", "speedup_gap10")}
# The duplicates of table-level baselines through the engine add nothing to a scoreboard.
LEFT_OUT = frozenset({"brute_force_engine", "random_engine"})
PEER_PREFIXES = ("optuna_", "synetune_", "hyperband_joint")
SONAR = "sonar"
ABLATED = "sonar-without-"  # SONAR with these rules switched off ...
ADDED = "sonar-with-"  # ... or on
VERSIONED = ("sonar", "torch", "numpy", "optuna", "syne-tune")
TABLE_SUFFIXES = (".jsonl", ".jsonl.gz")
WORK_SUFFIX = ".work.jsonl"


def criteria(mode: str) -> tuple[str, ...]:
    """The figures a suite in `mode` reports per seed."""
    return (*MODE_SPEEDUPS[mode], "anytime_area")


@dataclass(kw_only=True, frozen=True)
class Cell:
    table: str
    quantile: float | None  # None in Pareto mode: no latency bound
    rule: str
    method: str
    seed: int
    mode: str = "constraint"

    @property
    def key(self) -> tuple:
        return self.mode, self.table, self.quantile, self.rule, self.method, self.seed


@dataclass(kw_only=True, frozen=True)
class SuiteSettings:
    tables: tuple[Path, ...]
    seeds: int = 5
    quantiles: tuple[float, ...] = QUANTILES
    rules: tuple[str, ...] = RULES
    methods: tuple[str, ...] | None = None  # None: every available method
    jobs: int = 2
    mode: str = "constraint"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"mode {self.mode!r}: choose one of {list(MODES)}")
        if not self.tables:
            raise UserError("the suite needs at least one table")
        refuse_repeated_tables(self.tables)
        if not self.rules:  # `--rules ,` ran no cell and wrote an empty scoreboard
            raise UserError("rules: name at least one recommendation rule, e.g. completed")
        if not 1 <= self.seeds <= MAX_SEEDS:
            raise UserError(f"seeds={self.seeds}: must be between 1 and {MAX_SEEDS:,}")
        if not 1 <= self.jobs <= MAX_JOBS:
            raise UserError(f"jobs={self.jobs}: must be between 1 and {MAX_JOBS:,}")
        for q in self.quantiles:
            if not 0 <= q <= 1:
                raise UserError(f"quantile {q}: bound quantiles lie in [0, 1]")
        for rule in self.rules:
            check_rule(rule)

    @property
    def bounds(self) -> tuple[float | None, ...]:
        """The bound quantiles the cells run at; Pareto mode has no bound."""
        return self.quantiles if self.mode == "constraint" else (None,)


def find_tables(paths: Iterable[Path]) -> tuple[Path, ...]:
    """The given table files, and every table file directly inside a given directory (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.name.endswith(TABLE_SUFFIXES)
                            and not p.name.endswith(WORK_SUFFIX))
        elif path.is_file():
            found.append(path)
        else:
            raise UserError(f"{path}: no such table file or directory")
    if not found:
        raise UserError(f"no table (*.jsonl, *.jsonl.gz) in {[str(p) for p in paths]}")
    return tuple(dict.fromkeys(found))


def available_methods(mode: str = "constraint") -> dict[str, object]:
    from sonar.bench.runner import default_methods

    methods, _ = default_methods(mode)
    return {m.name: m for m in methods if m.name not in LEFT_OUT}


def plan_cells(settings: SuiteSettings) -> list[Cell]:
    names = available_methods(settings.mode)
    wanted = settings.methods or tuple(names)
    unknown = sorted(m for m in set(wanted) - set(names) if not is_variant(m))
    for m in wanted:
        if is_variant(m):
            method_named(m)
    if unknown:
        raise UserError(f"methods {unknown} are not available in {settings.mode} mode; choose from {sorted(names)}")
    return [Cell(table=str(t), quantile=q, rule=r, method=m, seed=s, mode=settings.mode)
            for t in settings.tables for q in settings.bounds for r in settings.rules for m in wanted
            for s in range(settings.seeds)]


def table_digest(path: str | Path) -> str:
    """The sha256 of a table file's bytes: what a row was computed on."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=8)
def _table(path: str, digest: str):  # keyed on the bytes too: a table rebuilt in place is read again
    from sonar.bench.table import load_table

    return load_table(path)


def method_named(name: str, mode: str = "constraint"):
    """An available method (in `mode`), or `sonar-without-RULE[+RULE...]` / `sonar-with-RULE[+RULE...]`: SONAR
    with those scheduler rules switched off / on (the variants `sonar bench ablate` compares)."""
    if is_variant(name):
        from sonar.bench.engine_method import EngineMethod
        from sonar.search.schedulers.policy import SONAR_RULES

        on = name.startswith(ADDED)
        rules = tuple(name[len(ADDED if on else ABLATED):].split("+"))
        SONAR_RULES.without(*rules)  # names checked here, before any replay
        return EngineMethod(name, "sonar", rules={rule: on for rule in rules})
    return available_methods(mode)[name]


def is_variant(name: str) -> bool:
    return name.startswith((ABLATED, ADDED))


def run_cells(cells: Sequence[Cell]) -> list[dict]:
    """Cells that differ only in their rule, from one run of the method (runs in a worker): a method's
    choices never depend on the rule it is scored by."""
    from sonar.bench.regret import Scorer, objective_from_table
    from sonar.bench.runner import run_method_rules, seed_criteria

    cell = cells[0]
    if any(_run_key(c) != _run_key(cell) for c in cells):
        raise ValueError("run_cells: the cells must differ only in their rule")
    digest = table_digest(cell.table)
    table = _table(cell.table, digest)
    objective = objective_from_table(table, mode=cell.mode, latency_limit_quantile=cell.quantile)
    method = method_named(cell.method, cell.mode)
    started = time.perf_counter()
    traces = run_method_rules(table, objective, method, cell.seed,
                              Scorer(table, objective), rules=tuple(c.rule for c in cells))
    wall = (time.perf_counter() - started) / len(cells)
    undefined = set(SPEEDUPS) - set(MODE_SPEEDUPS[cell.mode])  # e.g. the top 3 where nothing is ranked
    rows = []
    for c in cells:
        figures = seed_criteria(traces[c.rule], table.brute_force_seconds)
        row = asdict(c) | {k: v for k, v in figures.items() if k not in undefined}
        row.update(latency_limit_s=objective.latency_limit_s, brute_force_s=table.brute_force_seconds,
                   synthetic=table.header.synthetic, wall_s=wall, table_digest=digest,
                   code_digest=code_digest(type(method).__module__))
        rows.append(row)
    return rows


def read_work(path: Path) -> dict[tuple, dict]:
    """Finished cells by key; a line torn by an interruption is ignored (its cell reruns). A complete
    JSON line that is not a result row, or a file with no row whose lines are not JSON objects at all,
    is not a work file: it is refused, since the suite appends to it."""
    done: dict[tuple, dict] = {}
    if not path.exists():
        return done
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    for line in lines:
        try:
            row = strict_json.loads(line)
        except json.JSONDecodeError:
            continue  # torn by an interruption
        try:
            key = _row_key(row)
        except (KeyError, TypeError):
            raise _not_a_work_file(path) from None
        done[key] = row | {c: math.inf for c in SPEEDUPS if row.get(c, 0.0) is None}  # null: an instant success
    if lines and not done and not all(line.lstrip().startswith("{") for line in lines):
        raise _not_a_work_file(path)
    return done


def _same_table(row: dict, digests: dict[str, str], brute_force_s: dict[str, float]) -> bool:
    """The row was computed on the table as it is now. A row written before rows recorded their table's
    digest is trusted where its brute-force cost is the table's to the last digit: a table grown, cut or
    rebuilt changes that sum. `brute_force_s` memoises each table's sum (a suite has more tables than
    the table cache holds)."""
    path = row["table"]
    if "table_digest" in row:
        return row["table_digest"] == digests[path]
    if path not in brute_force_s:
        brute_force_s[path] = _table(path, digests[path]).brute_force_seconds
    return row.get("brute_force_s") == brute_force_s[path]


def method_code_digests(methods: Iterable[str], mode: str) -> dict[str, str]:
    """Each method's current code digest: what its rows must record to be reused."""
    return {name: code_digest(type(method_named(name, mode)).__module__) for name in set(methods)}


def _not_a_work_file(path: Path) -> UserError:
    return UserError(f"{path}: not a work file of `sonar bench suite` (its lines are not result rows);"
                     " give --work a work file of the suite's, or a new path")


def refuse_repeated_tables(tables) -> None:
    """A table named twice (by any path) would count twice in every average."""
    resolved = [Path(t).resolve() for t in tables]
    if len(set(resolved)) < len(resolved):
        twice = next(t for t, r in zip(tables, resolved, strict=True) if resolved.count(r) > 1)
        raise UserError(f"table {str(twice)!r} is named more than once; name each table once")


def _run_key(cell: Cell) -> tuple:
    """Cells with one run key share one run of the method (they differ only in their rule)."""
    return cell.mode, cell.table, cell.quantile, cell.method, cell.seed


def _row_key(row: dict) -> tuple:
    # rows written before the suite had a Pareto mode carry no mode: they are constraint rows
    fields = {k: row[k] for k in ("table", "quantile", "rule", "method", "seed")}
    return Cell(**fields, mode=row.get("mode", "constraint")).key


def _append(path: Path, row: dict) -> None:
    data = json.dumps(finite_or_none(row)) + "\n"
    with open(path, "a") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def check_tables(settings: SuiteSettings, digests: dict[str, str]) -> None:
    """Every table read, its objective set at each bound and its replay checked by every method that can tell,
    before the first cell: a bad table is refused naming it, not after the cells of the tables before it ran."""
    from sonar.bench.regret import objective_from_table
    from sonar.bench.runner import check_methods

    methods = [method_named(name, settings.mode) for name in settings.methods or available_methods(settings.mode)]
    for path in sorted(digests):
        table = _table(path, digests[path])
        objectives = [objective_from_table(table, mode=settings.mode, latency_limit_quantile=bound)
                      for bound in settings.bounds]
        check_methods(table, objectives[0], methods)


def run_suite(settings: SuiteSettings, work: Path,
              progress: Callable[[int, int, str], None] | None = None) -> list[dict]:
    """Run every cell not already in `work`; returns the rows of every planned cell."""
    cells = plan_cells(settings)
    digests = {table: table_digest(table) for table in {c.table for c in cells}}  # each file hashed once
    check_tables(settings, digests)
    done = read_work(work)
    brute_force_s: dict[str, float] = {}
    stale = {key for key, row in done.items()
             if row["table"] in digests and not _same_table(row, digests, brute_force_s)}
    codes = method_code_digests({c.method for c in cells}, settings.mode)
    changed_code = {key for key, row in done.items()
                    if row["method"] in codes and row.get("code_digest") != codes[row["method"]]} - stale
    for key in stale | changed_code:
        del done[key]
    todo = [c for c in cells if c.key not in done]
    work.parent.mkdir(parents=True, exist_ok=True)
    if work.exists() and work.read_bytes()[-1:] not in (b"", b"\n"):
        with open(work, "a") as f:  # end a torn line so the next row starts on its own
            f.write("\n")
    finished = len(cells) - len(todo)
    if progress is not None:
        changed = f"; {len(stale)} rows of changed tables rerun" if stale else ""
        changed += f"; {len(changed_code)} rows of changed method code rerun" if changed_code else ""
        progress(finished, len(cells), ("resumed" if finished else "starting") + changed)

    def record(row: dict) -> None:
        nonlocal finished
        _append(work, row)
        done[_row_key(row)] = row
        finished += 1
        if progress is not None:
            bound = "pareto" if row["quantile"] is None else f"q={row['quantile']}"
            progress(finished, len(cells), f"{Path(row['table']).name} {bound} {row['rule']} "
                                           f"{row['method']} seed {row['seed']}")

    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for cell in todo:
        groups[_run_key(cell)].append(cell)
    if settings.jobs == 1 or len(groups) <= 1:
        for group in groups.values():
            for row in run_cells(group):
                record(row)
    else:
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=settings.jobs, mp_context=context) as pool:
            futures = [pool.submit(run_cells, group) for group in groups.values()]
            for future in as_completed(futures):
                for row in future.result():
                    record(row)
    return [done[c.key] for c in cells]


def row_mode(rows: Sequence[dict]) -> str:
    """The one mode of a suite's rows."""
    modes = {row.get("mode", "constraint") for row in rows}
    if len(modes) > 1:
        raise ValueError(f"rows of modes {sorted(modes)} in one scoreboard: a suite runs in one mode")
    return modes.pop() if modes else "constraint"


def scoreboard(rows: Sequence[dict]) -> dict:
    """The summary of the suite's rows (see the module docstring)."""
    mode = row_mode(rows)
    speedups, figures = MODE_SPEEDUPS[mode], criteria(mode)
    by_cell: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        by_cell[(row["rule"], row["method"], row["table"], row["quantile"])].append(row)
    medians = {key: {c: float(np.median([r[c] for r in seeds])) for c in figures}
               | {f"failures_{c}": sum(r[c] == 0.0 for r in seeds) for c in speedups} | {"seeds": len(seeds)}
               for key, seeds in by_cell.items()}
    board: dict = {}
    for rule in sorted({k[0] for k in medians}):
        board[rule] = {}
        for method in sorted({k[1] for k in medians if k[0] == rule}):
            cells = [v for k, v in medians.items() if k[:2] == (rule, method)]
            entry = {c: float(np.median([v[c] for v in cells])) for c in figures}
            entry |= {f"failures_{c}": sum(v[f"failures_{c}"] for v in cells) for c in speedups}
            entry |= {"seeds": sum(v["seeds"] for v in cells), "cells": len(cells)}
            board[rule][method] = entry
    return {"methods": board, "sonar_ahead": _sonar_ahead(medians),
            "cells": [{"rule": k[0], "method": k[1], "table": k[2], "quantile": k[3]} | v
                      for k, v in sorted(medians.items())]}


def is_peer(method: str) -> bool:
    return method.startswith(PEER_PREFIXES)


def _sonar_ahead(medians: dict[tuple, dict]) -> dict:
    """Per rule: the share of (table, bound) where SONAR's median beats every peer's, per criterion."""
    out = {}
    for rule in sorted({k[0] for k in medians}):
        places = sorted({k[2:] for k in medians if k[0] == rule and k[1] == SONAR})
        wins = {"speedup_1pct": 0, "speedup_gap10": 0}
        counted = 0
        for place in places:
            peers = [v for k, v in medians.items() if k[0] == rule and k[2:] == place and is_peer(k[1])]
            if not peers:
                continue
            counted += 1
            sonar = medians[(rule, SONAR, *place)]
            for criterion in wins:
                wins[criterion] += all(sonar[criterion] > p[criterion] for p in peers)
        out[rule] = {"cells": counted} | {c: (w / counted if counted else None) for c, w in wins.items()}
    return out


def stamp() -> dict:
    """The git commit (and whether the tree had changes) and the package versions of this run."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status),
            "versions": versions}


def suite_result(settings: SuiteSettings, rows: Sequence[dict]) -> dict:
    tables = {}
    for path in settings.tables:
        digest = table_digest(path)
        table = _table(str(path), digest)
        tables[str(path)] = {"synthetic": table.header.synthetic, "candidates": len(table.candidates),
                             "brute_force_s": table.brute_force_seconds, "sha256": digest}
    quantiles = list(settings.quantiles) if settings.mode == "constraint" else None
    settings_json = {"tables": [str(p) for p in settings.tables], "seeds": settings.seeds,
                     "quantiles": quantiles, "rules": list(settings.rules),
                     "methods": sorted({r["method"] for r in rows}), "mode": settings.mode}
    return finite_or_none(stamp() | {"settings": settings_json, "tables": tables} | scoreboard(rows))
