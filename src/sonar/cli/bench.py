"""`sonar bench build` and `sonar bench replay`: the proof benchmark."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sonar.cli.bench_group import bench_app
from sonar.cli.bench_method_flags import check_mode_flag, check_rule_flag, unavailable_methods
from sonar.cli.bench_suite import check_replay_counts, refuse_dangling_link
from sonar.cli.flag_terms import as_flag_of, check_device_flag, resolve_device_flag, typed_as, typed_flags
from sonar.cli.lists import name_list
from sonar.errors import UserError
from sonar.outdir import refuse_file_ancestor
from sonar.strict_json import finite_or_none


@bench_app.command("build")
def build(
    context: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="table to write, e.g. benchmarks/NAME.jsonl (.gz: gzip)")],
    candidates: int = typer.Option(64, help="architectures sampled from the space"),
    max_steps: int = typer.Option(512, help="training steps per candidate (checkpoints 8, 16, ... up to it)"),
    max_trials: int = typer.Option(24, help="tuning trials per candidate"),
    seed: int = typer.Option(0, help="sampling and training seed"),
    corpus: str = typer.Option(None, help="built-in trainer: text file, directory, glob, .jsonl or .parquet"
                                          " (default: the built-in corpus)"),
    tokenizer: str = typer.Option("bpe", help="built-in trainer: bpe or byte"),
    vocab: int = typer.Option(None, help="built-in trainer: BPE vocabulary size (default: 4096; a small corpus"
                                         " needs fewer)"),
    space: Annotated[Path | None, typer.Option("--space", help="architecture space YAML in the search spec's"
                                                               " arch: syntax (default: the built-in grid)")] = None,
    resume: bool = typer.Option(False, "--resume", help="keep the finished candidates already in --out"),
    synthetic: bool = typer.Option(False, "--synthetic", help="write a modelled table (nothing measured)"),
    trainer: str = typer.Option("sonar.train.trainer:CorpusTrainer", help="Trainer class, module:Name"),
    tuner: str = typer.Option("sonar.systems.tuner:SystemTuner", help="Tuner class, module:Name"),
    compile_top_k: int = typer.Option(0, help="built-in tuner: also measure a compiled variant of this many best"
                                              " eager configs per candidate after its eager sweep, within"
                                              " --max-trials (0: eager only)"),
    device: str = typer.Option("cpu", help="built-in trainer: where candidates train (cpu, cuda, cuda:N)"),
    target: str = typer.Option("cpu", help="built-in tuner: the hardware it measures on (cpu or cuda)"),
) -> None:
    """Brute force over a sampled architecture space: train and tune every candidate to the end."""
    from sonar.bench.build import (
        DEFAULT_TRAINER,
        DEFAULT_TUNER,
        BuildSettings,
        build_table,
        make_header,
        make_trainer,
        make_tuner,
        recorded_knob_space,
    )
    from sonar.bench.synthetic import synthetic_table
    from sonar.bench.table import write_table

    console = Console()
    check_device_flag(device)  # BuildSettings checks it too, naming the keyword `device=`
    settings = BuildSettings(out=out, candidates=candidates, max_steps=max_steps, max_trials=max_trials, seed=seed,
                             corpus=corpus, tokenizer=tokenizer, vocab=vocab, space=space, compile_top_k=compile_top_k,
                             device=device, target=target)
    if not out.name.endswith((".jsonl", ".jsonl.gz")) or out.is_dir():
        # `--out new/` reaches here as `new`: a table file of that name would surprise whoever meant a folder
        raise UserError(f"--out {out}: a table is one .jsonl or .jsonl.gz file, e.g. benchmarks/NAME.jsonl")
    refuse_dangling_link(out, "--out", "name the table's own path")
    if synthetic and resume:
        # a modelled table is written whole in one go: --resume had nothing to keep, and on an existing table the
        # refusal below told the user to pass the --resume they had passed
        raise UserError("--resume: a --synthetic table is written whole in one go and has nothing to resume; drop"
                        " --resume (and name a new --out)")
    if out.exists() and (synthetic or not resume):
        raise UserError(f"{out} exists: pass --resume to continue it, or choose another --out")
    refuse_file_ancestor(out, "--out")
    if synthetic:
        measured_only = {"--corpus": corpus is not None, "--space": space is not None,
                         "--tokenizer": tokenizer != "bpe", "--vocab": vocab is not None,
                         "--trainer": trainer != DEFAULT_TRAINER,
                         "--tuner": tuner != DEFAULT_TUNER, "--compile-top-k": compile_top_k != 0,
                         "--device": device != "cpu", "--target": target != "cpu"}
        typed = typed_flags(context)  # a flag given with its default value is given all the same
        given = [flag for flag, set_ in measured_only.items() if set_ or flag in typed]
        if given:
            raise UserError(f"--synthetic: a modelled table trains and tunes nothing, so it reads no "
                            f"{', '.join(given)}")
        table = synthetic_table(candidates=candidates, max_steps=max_steps, max_trials=max_trials, seed=seed)
        write_table(out, table.header, table.candidates)
        console.print(f"wrote a SYNTHETIC table (modelled, nothing measured): {len(table.candidates)} candidates"
                      f" -> {out}")
        return
    resolve_device_flag(device)  # an absent GPU is one error now, not a failure after the header is written
    if target == "cuda":
        resolve_device_flag("cuda", "--target")
    # the import says "trainer 'nope': expected 'package.module:Name'", naming no flag and no class that works
    with as_flag_of("trainer", "--trainer", _plugin_hint("Trainer", DEFAULT_TRAINER)):
        trainer_obj = make_trainer(trainer, max_steps, corpus=corpus, tokenizer=tokenizer, device=device, vocab=vocab)
    # a resumed table keeps the knobs it was started with, whatever knobs sonar has gained since
    recorded = recorded_knob_space(out) if resume and tuner == DEFAULT_TUNER else None
    with as_flag_of("tuner", "--tuner", _plugin_hint("Tuner", DEFAULT_TUNER)):
        tuner_obj = make_tuner(tuner, compile_top_k, max_trials, target=target, recorded_space=recorded)
    with typed_as("--corpus", corpus, opening="corpus "):  # the corpus is first read for its digest here
        header = make_header(settings, trainer_obj, tuner_obj, trainer_spec=trainer, tuner_spec=tuner)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("building", total=candidates)

        def report(done: int, total: int, text: str) -> None:
            progress.update(task, completed=done, total=total, description=text)
            if not console.is_terminal and text.endswith(" done"):  # a log shows no progress bar until the end
                console.print(f"{datetime.now():%H:%M:%S} {text} ({done}/{total})")

        with typed_as("--corpus", corpus, opening="corpus "):  # and split for the first candidate here
            table = build_table(settings, trainer_obj, tuner_obj, header=header, progress=report)
    console.print(f"{len(table.candidates)} candidates in {out}; brute force cost "
                  f"{table.brute_force_seconds / 3600:.2f} h")


def _plugin_hint(kind: str, default: str) -> str:
    return f"name a {kind} class, such as the built-in {default}"


@bench_app.command("replay")
def replay(
    table_path: Annotated[Path, typer.Argument(metavar="TABLE", help="a table written by `sonar bench build`")],
    seeds: int = typer.Option(20, help="seeds per method (>= 20 for reported figures)"),
    mode: str = typer.Option(None, help="constraint | pareto (default: the table's)"),
    latency_limit: float = typer.Option(None, help="seconds; default: the table's"),
    methods: str = typer.Option(None, help="comma-separated method names (default: all available)"),
    rule: str = typer.Option("checkpoint", help="recommendation rule, the same for every method: checkpoint"
                                                " | completed (sonar.bench.recommend)"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    png: Annotated[Path | None, typer.Option("--png", help="write regret-vs-cost curves here")] = None,
) -> None:
    """Replay every scheduler on the table's virtual clock; speedup over brute force at regret <= 1%."""
    from sonar.bench.regret import objective_from_table
    from sonar.bench.runner import check_methods, default_methods, replay_all, summarize
    from sonar.bench.table import load_table

    check_replay_counts(seeds)
    if latency_limit is not None and not (math.isfinite(latency_limit) and latency_limit > 0):
        # before the table is read: the objective refused it only then, as `latency_limit_s=nan`, its own field
        raise UserError(f"--latency-limit {latency_limit}: must be a finite number of seconds > 0")
    check_mode_flag(mode)
    check_rule_flag((rule,), "--rule", rule)
    # wide enough for every column when piped to a file, where rich would assume 80
    console = Console(stderr=as_json, width=None if sys.stdout.isatty() else 140)
    table = load_table(table_path)
    objective = objective_from_table(table, mode=mode, latency_limit_s=latency_limit)
    chosen, notes = default_methods(objective.mode)
    if png is not None:
        _check_writable_file(png, "--png")
    if methods is not None:
        wanted = name_list(methods, "--methods", what="method", choices=[m.name for m in chosen])
        unknown = sorted(set(wanted) - {m.name for m in chosen})
        if unknown:
            raise unavailable_methods(methods, unknown, objective.mode, [m.name for m in chosen])
        chosen = [m for m in chosen if m.name in wanted]
    check_methods(table, objective, chosen)  # before any output: a refused table is the one line printed
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}")  # hints hold brackets: pip install 'sonar[peers]'
    label = "SYNTHETIC table (modelled, nothing measured)" if table.header.synthetic else "measured table"
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("replaying", total=len(chosen) * seeds)
        runs = replay_all(table, objective, chosen, range(seeds), rule=rule,
                          progress=lambda name, seed: progress.update(task, advance=1, description=name))
    summary = summarize(table, runs)
    result = {"table": str(table_path), "synthetic": table.header.synthetic, "mode": objective.mode,
              "latency_limit_s": objective.latency_limit_s, "quality_delta_max": objective.quality_delta_max,
              "rule": rule, "seeds": seeds, "brute_force_s": table.brute_force_seconds, "methods": summary}
    if png is not None:
        from sonar.bench.plot import plot_regret

        plot_regret(runs, table.brute_force_seconds, png, title=f"{table_path.name}: {label}, {objective.mode}")
    if as_json:
        print(json.dumps(finite_or_none(result), indent=2))
        return
    _print_summary(console, result, label)


def _check_writable_file(path: Path, flag: str) -> None:
    """Checked before the replay, so a bad path costs nothing: an existing directory or a missing parent."""
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a directory; name a file, e.g. {path / 'regret.png'}")
    if not path.parent.is_dir():
        raise UserError(f"{flag} {path}: the directory {path.parent} does not exist")
    if path.suffix.lower() != ".png":
        raise UserError(f"{flag} {path}: must end in .png (the figure is written as PNG)")
    if path.exists() and not path.is_file():  # the figure, written once the replay had run, failed on a FIFO
        raise UserError(f"{flag} {path}: exists and is not a regular file (a FIFO, device or socket); name a new file")
    if path.is_file() and not _is_png(path):
        # an earlier figure is replaced, but a user's file that only bears the name is not
        raise UserError(f"{flag} {path}: exists and is not a PNG image; name a new file")


def _is_png(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(8) == b"\x89PNG\r\n\x1a\n"
    except OSError:
        return False


def _print_summary(console: Console, result: dict, label: str) -> None:
    limit = result["latency_limit_s"]
    where = f"latency <= {limit * 1e3:.3f} ms" if limit else "Pareto (loss, log latency)"
    table = Table(title=f"{label}: {result['mode']} mode, {where}, {result['rule']} rule, {result['seeds']} seeds; "
                        f"brute force {result['brute_force_s'] / 3600:.2f} h")
    for column in ("method", "speedup p25", "median", "p75", "failures", "gap<=10%: median", "failures",
                   "exact best: median", "failures", "anytime area", "final regret (median)"):
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=column == "method")
    for name, row in result["methods"].items():
        table.add_row(name, f"{row['speedup_at_1pct_p25']:.2f}x", f"{row['speedup_at_1pct_median']:.2f}x",
                      f"{row['speedup_at_1pct_p75']:.2f}x", f"{row['failures']}/{row['seeds']}",
                      f"{row['speedup_at_gap10_median']:.2f}x", f"{row['failures_at_gap10']}/{row['seeds']}",
                      f"{row['speedup_at_best_median']:.2f}x", f"{row['failures_at_best']}/{row['seeds']}",
                      f"{row['anytime_area_median']:.3f}", f"{row['final_regret_median']:.4f}")
    console.print(table)
    console.print("speedup = brute-force cost / cost to reach regret <= 1% (gap<=10%: within 10% of the feasible"
                  " loss range; exact best: regret 0) and stay; a failure counts as 0x")
