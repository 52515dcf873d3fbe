"""`sonar search | status | report | export`: drive a joint search and read its results."""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from sonar.cli.app import app
from sonar.cli.flag_terms import about_path
from sonar.errors import UserError
from sonar.outdir import check_run_dir
from sonar.search.backends import check_local_devices, check_real_available
from sonar.search.engine import run_search, start_search
from sonar.search.executors import InProcessExecutor, make_executor
from sonar.search.results import measured, summary
from sonar.search.run_lock import engine_holder
from sonar.search.spec import BACKENDS, EXECUTORS, load_spec, parse_spec, read_spec_file
from sonar.search.spec_checks import check_real_inputs, check_synthetic_size
from sonar.search.state import SearchState
from sonar.search.storage import DB_NAME, Storage
from sonar.strict_json import finite_or_none


@app.command()
def search(
    config: Annotated[Path | None, typer.Argument(help="the search spec (YAML)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="run directory to create")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="run directory of an interrupted search")] = None,
    executor: str = typer.Option(None, help=f"one of {', '.join(EXECUTORS)} (default: the spec's)"),
    address: str = typer.Option(None, help="Ray cluster address for --executor ray"),
    backend: str = typer.Option(None, help=f"one of {', '.join(BACKENDS)} (default: the spec's)"),
    workers: int = typer.Option(None, help="parallel jobs (default: the spec's executor.workers)"),
    live: bool = typer.Option(True, help="live view (off: one line per change)"),
    allow_spec_change: Annotated[bool, typer.Option(
        "--allow-spec-change", help="resume even though the run's stored spec was edited")] = False,
) -> None:
    """Run a joint architecture + system search, or resume one."""
    if (config is None) == (resume is None):
        raise UserError("give either CONFIG.yaml --out DIR, or --resume DIR")
    if allow_spec_change and resume is None:
        raise UserError("--allow-spec-change applies to --resume DIR only")
    _check_flags(executor, backend, workers, address)
    finished = False
    if config is not None:
        if out is None:
            raise UserError("--out DIR is required with a config")
        with about_path("--out", out):  # its refusals open with the path alone ("run: is a file; ...")
            check_run_dir(out, holds_run=lambda d: (d / DB_NAME).exists(), kind="sonar search")
        if (out / DB_NAME).exists():  # else refused by the engine only once the executor had started
            raise UserError(f"--out {out}: already holds a search; use `sonar search --resume {out}` to continue it,"
                            " or name a new --out")
        refuse_inside_a_search_run(out)
        if config.exists() and not config.is_file():  # else "no such spec file", of a path that exists
            raise UserError(f"{config}: not a regular file (a directory, FIFO, device or socket); name the spec's "
                            "YAML file")
        _refuse_compressed(config)
        raw = read_spec_file(config)
        written = load_spec(config)  # validates the file as written, so errors name its own keys
        _check_address(address, executor or written.executor.kind)
        overrides = {k: v for k, v in (("kind", executor), ("workers", workers), ("address", address)) if v is not None}
        raw["executor"] = {**(raw.get("executor") or {}), **overrides}  # recorded: the scheduler reads workers
        if raw["executor"].get("kind", "inprocess") != "ray":  # a ray spec run here with --executor simulated, say
            raw["executor"].pop("address", None)
        spec = parse_spec(raw)
        run_dir = out
    else:
        if out is not None:
            raise UserError(f"--out {out}: a resumed search writes into its own --resume {resume}; drop --out")
        if workers is not None:
            raise UserError("--workers is part of the recorded spec; a resumed search keeps its own")
        run_dir = resume
        with about_path("--resume", run_dir):  # else "spec.yaml: not a search directory", naming no flag
            check_database_file(run_dir)
            storage = Storage(run_dir)  # read-only: the engine reads again under the run's lock
        try:
            events = storage.events()
            stored = storage.state(events)  # a run that cannot be read fails here, before any executor
            spec, finished = stored.spec, stored.finished
            recorded = _first_backend(events)
            if backend in BACKENDS and recorded is not None and backend != recorded:
                # else the run's later jobs ran on another backend than its first ones, and its results mixed both
                raise UserError(f"--backend {backend}: this search ran on the {recorded} backend, and a resumed"
                                " search keeps its own; drop --backend, or start a new search")
            backend = recorded if backend is None else backend  # '' is refused below, not the default
        finally:
            storage.close()
        raw = spec.raw
        _check_address(address, executor or spec.executor.kind)
    if backend is not None and backend not in BACKENDS:
        raise UserError(f"--backend {backend!r}: must be one of {', '.join(BACKENDS)}")
    backend = backend or spec.backend
    if backend == "synthetic":
        check_synthetic_size(spec)
    if backend == "real":
        check_real_available()
        if (executor or spec.executor.kind) != "ray":  # a Ray cluster's devices are on its nodes
            check_local_devices(spec)
        if spec.backend != "real":
            # parse_spec checks a real spec's corpus, tokenizer and lengths; a synthetic spec switched over here
            # skipped them, and every train job failed on them while the search ended "no candidate meets the
            # objective", exit 0
            try:
                check_real_inputs(spec)
            except UserError as err:
                raise UserError(f"--backend real: {err}") from None
    # A finished run only reports: starting a Ray cluster or a process pool for it would cost seconds for nothing.
    if not finished and (executor or spec.executor.kind) == "ray":
        _check_reachable(address or spec.executor.address,
                         f"--address {address!r}" if address else f"executor.address {spec.executor.address!r}")
    try:
        runner = InProcessExecutor() if finished else make_executor(spec, executor, address=address,
                                                                    workers=workers)
    except ValueError as err:  # Ray's own check of an address ("Invalid address format: ..."), as a traceback
        if (executor or spec.executor.kind) != "ray":
            raise
        where = f"--address {address!r}" if address else f"executor.address {spec.executor.address!r}"
        raise UserError(f"{where}: Ray refused it ({err}); give host:port, or ray://host:port") from None
    if config is not None:
        start_search(raw, run_dir).close()
    console = Console()
    view = _LiveView(console, spec)
    try:
        if live and console.is_terminal:
            with Live(console=console, refresh_per_second=4) as screen:
                state = run_search(run_dir, runner, backend=backend, on_progress=lambda s: screen.update(view(s)),
                                   allow_spec_change=allow_spec_change)
        else:
            state = run_search(run_dir, runner, backend=backend, on_progress=view.log,
                               allow_spec_change=allow_spec_change)
    finally:
        runner.shutdown()
    info = summary(state)
    console.print(view(state))
    if state.jobs_failed() and not state.jobs_done():
        reason, count = state.failure_reasons().most_common(1)[0]
        print(f"error: all {state.jobs_failed()} jobs failed; the most common failure ({count} of them): {reason}",
              file=sys.stderr)
        raise typer.Exit(1)
    if info["best"]:
        b = info["best"]
        console.print(f"[bold green]winner[/] {b['id']}: val loss {b['val_loss']:.4f}, "
                      f"latency {b['latency_s'] * 1e3:.3f} ms, system {b['system']}")
    else:
        console.print("[bold red]no candidate meets the objective[/]")
    console.print(f"results in {run_dir}: `sonar report {run_dir}`, `sonar export {run_dir} --best --to OUT`")


MAX_WORKERS = 1024  # as the spec's executor.workers


def _check_flags(executor: str | None, backend: str | None, workers: int | None, address: str | None) -> None:
    """The flags' own values, before the spec: once merged into it, a bad one was reported under the spec key it
    overrides (`executor.workers: 5000 must be <= 1,024`), a key the user never wrote."""
    if executor is not None and executor not in EXECUTORS:
        raise UserError(f"--executor {executor!r}: must be one of {', '.join(EXECUTORS)}")
    if backend is not None and backend not in BACKENDS:
        raise UserError(f"--backend {backend!r}: must be one of {', '.join(BACKENDS)}")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise UserError(f"--workers {workers}: must be between 1 and {MAX_WORKERS:,}")
    if address is not None and (not address.strip() or not address.isprintable()):
        raise UserError(f"--address {address!r}: not a Ray cluster address (host:port, or ray://host:port)")


def check_database_file(run_dir: Path) -> None:
    """A search.db that is there but is no file was reported as "not a search directory (no search.db)"."""
    path = run_dir / DB_NAME
    if path.exists() and not path.is_file():
        raise UserError(f"{path}: not a regular file (a directory, FIFO, device or socket); a run's search.db is the"
                        " SQLite file `sonar search` writes")


def _refuse_compressed(config: Path) -> None:
    """A gzipped spec failed as "not UTF-8 text (undecodable byte 0x8b at offset 1)", which said nothing of why."""
    try:
        with config.open("rb") as handle:
            compressed = handle.read(2) == b"\x1f\x8b"
    except OSError:  # read_spec_file names the file and the reason
        return
    if compressed:
        raise UserError(f"{config}: gzip-compressed; a spec is read as YAML text: decompress it first")


def refuse_inside_a_search_run(out: Path, flag: str = "--out", advice: str = "name a directory outside it") -> None:
    """Output inside a search's run directory mixed its files into that run's record: under a candidate's folder,
    `sonar export` of that run takes the newest checkpoint below the folder, which could be the newcomer's."""
    for ancestor in Path(os.path.realpath(out)).parents:
        if (ancestor / DB_NAME).is_file():
            shown = os.path.relpath(ancestor)
            raise UserError(f"{flag} {out}: inside the search run {ancestor if shown.startswith('..') else shown};"
                            f" {advice}")


RAY_CONNECT_TIMEOUT_S = 10.0


def _check_reachable(address: str | None, where: str) -> None:
    """A host:port (or ray://host:port) that nothing answers on: ray.init retried it for minutes without a
    word. An address Ray reads another way ("auto", none) or cannot parse is left to Ray."""
    host, _, port = (address or "").removeprefix("ray://").rpartition(":")
    if not host or not port.isascii() or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError, OverflowError) as err:
        raise UserError(f"{where}: no Ray cluster answers there ({err}); start one with `ray start --head`, or"
                        " check the host and port") from None


def _check_address(address: str | None, kind: str) -> None:
    if address is not None and kind != "ray":
        raise UserError(f"--address {address!r}: applies to the ray executor only (this search runs on {kind!r});"
                        " add --executor ray")


def _first_backend(events: list[tuple[str, dict, float]]) -> str | None:
    return next((p.get("backend") for kind, p, _ in events if kind == "run_started"), None)


class _LiveView:
    def __init__(self, console: Console, spec, clock: bool = True, live: bool = True) -> None:
        # clock off: the view is drawn once from a stored run (`sonar status`), where a time counted from
        # the view's own creation would always read 0 s, and an ETA from it too. live off: no engine holds
        # the run, so a job recorded as submitted was cut off, not running (--resume runs it again)
        self.console, self.spec, self.started, self.clock, self.live = console, spec, time.time(), clock, live
        self._last = ""
        self._done_at_start: int | None = None  # a resumed run's earlier jobs took none of this process's time

    def __call__(self, state: SearchState):
        info = summary(state)
        elapsed = time.time() - self.started
        if self._done_at_start is None:
            self._done_at_start = info["jobs_done"]
        eta = _eta(elapsed, info["jobs_done"] - self._done_at_start,
                   _expected_jobs(self.spec) - info["jobs_done"]) if not state.finished else 0.0
        best = info["best"]
        clock = f"  elapsed {elapsed:.0f} s  ETA ~{eta:.0f} s" if self.clock else ""
        n = info["jobs_running"]
        in_flight = f", {n} running" if self.live else (f", {n} cut off" if n else "")
        head = (f"[bold]{self.spec.name}[/] ({self.spec.scheduler}, {self.spec.objective.kind})  "
                f"jobs {info['jobs_done']} done, {info['jobs_failed']} failed{in_flight}  "
                f"spent {info['spent_s']:.1f} job-s{clock}\n"
                f"best so far: " + (f"{best['id']} loss {best['val_loss']:.4f} latency "
                                    f"{best['latency_s'] * 1e3:.3f} ms" if best else "none"))
        if len(info["per_target"]) > 1:
            head += "".join(f"\n  on {w['target']}: " + (f"{w['id']} loss {w['val_loss']:.4f} latency "
                                                         f"{w['latency_s'] * 1e3:.3f} ms, system {w['system']}"
                                                         if w["id"] else "none")
                            for w in info["per_target"])
        table = Table(box=None, pad_edge=False)
        bound = self.spec.objective.long_context  # a column only where the spec bounds long context
        long_column = () if bound is None else (f"loss {bound.factor}x / 1x",)
        for name in ("cand", "status", "rung", "steps", "trials", "val loss", "latency ms", *long_column, "why"):
            table.add_column(name)
        order = {"active": 0, "finished": 1, "stopped": 2, "failed": 3}
        for r in sorted(measured(state), key=lambda r: (order[r.status], r.val_loss, r.id))[:20]:
            long_cell = () if bound is None else ("-" if r.long_ratio is None else f"{r.long_ratio:.3f}",)
            table.add_row(r.id, r.status, str(r.rung), str(r.steps), str(r.trials), f"{r.val_loss:.4f}",
                          f"{r.latency_s * 1e3:.3f}", *long_cell, r.reason[:50])
        return Group(head, table)

    def log(self, state: SearchState) -> None:
        info = summary(state)
        line = (f"jobs {info['jobs_done']} done / {info['jobs_failed']} failed, "
                f"spent {info['spent_s']:.1f} job-s, best {info['best']['id'] if info['best'] else '-'}")
        if line != self._last:
            self.console.print(line)
            self._last = line


def _eta(elapsed_s: float, done_here: int, left: float) -> float:
    """Seconds left at the rate of the jobs this process has run (0 until it has run one, or none are left)."""
    return elapsed_s * left / done_here if done_here > 0 and left > 0 else 0.0


def _expected_jobs(spec) -> float:
    """Roughly how many jobs successive halving runs: a train job and a tune job per target for each
    candidate-rung, n/eta^k candidates at rung k."""
    n, eta = spec.budget.candidates, spec.eta
    return (1 + len(spec.targets)) * sum(max(1.0, n / eta**k) for k in range(1 + int(math.log(max(n, 1), eta))))


@app.command()
def status(run_dir: Annotated[Path, typer.Argument(help="a search run directory")],
           as_json: bool = typer.Option(False, "--json", help="machine-readable")) -> None:
    """Where a search stands: state, best, Pareto front, jobs done and failed."""
    check_database_file(run_dir)
    storage = Storage(run_dir)  # read-only: works on an archived run and changes nothing
    try:
        state = storage.state()
    finally:
        storage.close()
    live = engine_holder(run_dir) is not None
    info = summary(state, engine_live=live)
    if as_json:
        print(json.dumps(finite_or_none(info), indent=1))
        return
    console = Console()
    console.print(_LiveView(console, state.spec, clock=False, live=live)(state))
    console.print(f"state: {info['state']}; pareto: {[p['id'] for p in info['pareto']]}")
    for w in info["per_target"]:  # several targets: each one's own front
        if "pareto" in w:
            console.print(f"  pareto on {w['target']}: {[p['id'] for p in w['pareto']]}")
    if info["placements"]:
        console.print("jobs ran on: " + ", ".join(f"{place} ({n})" for place, n in info["placements"].items()))


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="a search run directory")],
           out: Annotated[Path | None, typer.Option(
               "--out", help="where to write it (default DIR/report; needed for a read-only run)")] = None) -> None:
    """Write DIR/report/index.html and its PNG figures."""
    from sonar.search.report import write_report

    check_database_file(run_dir)
    with about_path("--out", out):  # else "x.txt: exists and is not a directory; ...", naming no flag
        print(f"report: {write_report(run_dir, out)}")


@app.command()
def export(run_dir: Annotated[Path, typer.Argument(help="a search run directory")],
           to: Annotated[Path, typer.Option("--to", help="output directory")],
           best: bool = typer.Option(False, "--best", help="export the chosen candidate"),
           overwrite: bool = typer.Option(False, "--overwrite",
                                          help="write into a directory holding other files (they are kept)")) -> None:
    """Export the chosen candidate's HF checkpoint and its system configuration JSON."""
    import sys
    import warnings

    from sonar.checkpoint.llama_license import NOTICE_FILE, SUMMARY_FILE, LlamaNamingWarning
    from sonar.search.export import export_best

    if not best:
        raise UserError("only --best is supported: export the chosen candidate")
    check_database_file(run_dir)
    if run_dir.resolve() in to.resolve().parents:  # the run directory itself: export_best names it
        # the run directory is the search's record: an export there mixes with it, and a resume or clean-up
        # of the run would treat it as the run's own files
        raise UserError(f"--to {to}: inside the run directory {run_dir}; export to a directory outside it")
    refuse_inside_a_search_run(to, "--to", "export to a directory outside it")  # another run's
    _refuse_checkpoint_in_the_way(to)
    with warnings.catch_warnings(record=True) as caught:  # the Llama 4 naming rule, as one line
        warnings.simplefilter("always", LlamaNamingWarning)
        with about_path("--to", to):  # its refusals name the path alone, or made absolute ("/home/u/x: ...")
            path, trained = export_best(run_dir, to, overwrite=overwrite)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if (path / "model" / NOTICE_FILE).is_file():
        print(f"derived from Meta Llama 4: model/{NOTICE_FILE} and model/{SUMMARY_FILE} carry its license notice")
    note = "" if trained else " (no trained checkpoint in the candidate's workdir: weights are its initialisation)"
    several = "" if len(load_run_targets(run_dir)) < 2 else ", and system_config.<target>.json per target"
    print(f"exported to {path}: model/ and system_config.json{several}{note}")


def _refuse_checkpoint_in_the_way(to: Path) -> None:
    """--to a `sonar train` run (its checkpoint in model/) with --overwrite failed as "trained/model/.sonar-output.json:
    sonar did not write it", of the very marker sonar wrote with that checkpoint."""
    from sonar.outdir import MARKER, read_marker_and_kind

    if (to / MARKER).is_file():  # an output of sonar's own: writing() judges it by its kind, and names that kind
        return
    for folder in sorted(to.glob("model*")) if to.is_dir() else ():
        if folder.is_dir() and (folder / MARKER).is_file() and read_marker_and_kind(folder)[1] == "checkpoint":
            raise UserError(f"--to {to}: {folder} holds a sonar checkpoint, which the export writes its model over;"
                            " export to another directory")


def load_run_targets(run_dir: Path) -> list[str]:
    """The names of the run's targets (read-only)."""
    storage = Storage(run_dir)
    try:
        return [t.name for t in storage.state().spec.targets]
    finally:
        storage.close()
