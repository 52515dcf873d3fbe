"""`sonar tune`: tune how one model runs (live table of trials, curve JSON), and `sonar bench tune`."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from sonar.cli.app import app
from sonar.cli.bench_group import bench_app
from sonar.cli.flag_terms import about_path, typed_as
from sonar.cli.lists import name_list, refuse_unknown
from sonar.cli.search import refuse_inside_a_search_run
from sonar.errors import UserError
from sonar.outdir import check_run_dir, exclusive, refuse_file_ancestor
from sonar.strict_json import dumps_strict


def _ms(seconds: float) -> str:
    return "-" if not math.isfinite(seconds) else f"{seconds * 1e3:.3f}"


def _check_curve_path(path: Path, label: str) -> None:
    if path.is_dir():
        raise UserError(f"{label}: is a directory; name the curve's JSON file")
    if path.exists() and not path.is_file():  # reading a FIFO to see if it is a curve never ended
        raise UserError(f"{label}: exists and is not a regular file (a FIFO, device or socket); name a new file")
    if path.exists() and not _is_curve(path):
        raise UserError(f"{label}: exists and is not a tuning curve sonar wrote; name a new file")


def _is_curve(path: Path) -> bool:
    """The file is a curve `sonar tune` wrote (so replacing it loses nothing of the user's)."""
    from sonar import strict_json

    try:
        data = strict_json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and set(data) == {"candidate", "workload", "curve"}


_WORKLOAD_KEYS = {"context": "ctx", "batch": "b", "tokens": "t"}  # a Workload's fields, as --workload spells them


@contextmanager
def workload_flag(text: str) -> Iterator[None]:
    """A refusal of the workload put as the --workload typed: the workload's own opened "workload 'nope': ..."
    or "workload context=0: ...", naming neither the flag nor the key (ctx) the user wrote."""
    try:
        yield
    except UserError as err:
        message = str(err)
        if not message.startswith("workload "):
            raise
        rest = re.sub(r"^'[^']*': ", "", message.removeprefix("workload "))
        rest = re.sub(r"^(context|batch|tokens)=", lambda m: _WORKLOAD_KEYS[m[1]] + "=", rest)
        raise UserError(f"--workload {text!r}: {rest}") from None


def _trial_table(points: list, title: str) -> Table:
    table = Table(title=title)
    for column in ("trial", "config", "latency ms", "spread ms", "quality", "best ms", "seconds", "note"):
        table.add_column(column, justify="right" if column not in ("config", "note") else "left")
    for p in points[-25:]:
        note = p.failure or p.extra.get("raced", "")
        table.add_row(str(p.trial), p.extra.get("label", ""), _ms(p.latency_s), _ms(p.spread_s),
                      f"{p.quality_delta:.4f}", _ms(p.best_latency_s), f"{p.seconds:.0f}", escape(note[:60]))
    return table


def holds_tuning_records(directory: Path) -> bool:
    """What `sonar tune` and `sonar bench tune` leave in their --workdir: the systems prior, a curve, or an
    architecture's folder of tuning state (and the bench's training)."""
    return ((directory / "systems-prior.json").exists() or any(directory.glob("curve-*.json"))
            or any(directory.glob("*/systems")) or any(directory.glob("*/train")))


@app.command()
def tune(
    checkpoint: Annotated[Path | None, typer.Option(help="transformers-format checkpoint directory")] = None,
    preset_name: str | None = typer.Option(None, "--preset", help="random-weight model preset instead (its logits"
                                                                  " are noise, so quantized formats mostly fail"
                                                                  " the quality limit; tune a trained checkpoint)"),
    workload: str = typer.Option("decode:ctx=256", help="decode:ctx=C[,b=B] | prefill:b=B,t=T | throughput:ctx=C"),
    trials: int = typer.Option(30, help="trials to run in total (resumes what the workdir holds)"),
    workdir: Annotated[Path, typer.Option(help="tuning records (resumable)")] = Path("runs/tune"),
    out: Annotated[Path | None, typer.Option(help="curve JSON (default: WORKDIR/curve-<workload>.json)")] = None,
    compile_modes: str = typer.Option("eager,default,aot", "--compile", help="comma-separated compile modes to try"),
    quality_limit: float = typer.Option(0.01, help="largest acceptable quality delta, a relative error"
                                                   " from 0 to 1 (0.01: 1%)"),
    isolate: bool = typer.Option(False, help="run every trial in its own process"),
    seed: int = typer.Option(0, help="seed of the random-weight model"),
) -> None:
    """Search weight formats, kernels, compile mode and threads for the fastest acceptable config."""
    from sonar.interfaces import Candidate
    from sonar.model import preset
    from sonar.model.transformer import check_seed
    from sonar.systems.bench import BENCH_SPACE
    from sonar.systems.prior import write_json_atomic
    from sonar.systems.tuner import MAX_TUNER_TRIALS, SystemTuner, check_quality_limit

    if (checkpoint is None) == (preset_name is None):
        raise UserError("give exactly one of --checkpoint DIR or --preset NAME")
    if not 1 <= trials <= MAX_TUNER_TRIALS:  # above it the tuner's own check named max_trials, no flag of the command
        raise UserError(f"--trials {trials}: must be between 1 and {MAX_TUNER_TRIALS:,}")
    check_seed(seed, "--seed ")  # before the live table starts: an error inside it lands on the table's last line
    if checkpoint is not None and seed != 0:  # else ignored without a word: the checkpoint's weights are loaded
        raise UserError(f"--seed {seed}: seeds the random-weight model of --preset; --checkpoint {checkpoint} brings"
                        " its own weights: drop --seed")
    check_quality_limit(quality_limit, "--quality-limit")
    if workdir.exists() and not workdir.is_dir():
        raise UserError(f"--workdir {workdir}: exists and is not a directory; name a directory for the records")
    with about_path("--workdir", workdir):  # its refusals open with the path alone ("w: is a file; ...")
        check_run_dir(workdir, holds_run=holds_tuning_records, kind="tuning records", flag="--workdir")
    refuse_inside_a_search_run(workdir, "--workdir")  # a real run's candidates/ passed for tuning records
    if out is not None:
        _check_curve_path(out, f"--out {out}")
        refuse_file_ancestor(out, "--out")  # else a traceback from mkdir once every trial has run
    if checkpoint is not None:
        from sonar.checkpoint import from_hf
        from sonar.checkpoint.files import check_weights_readable, config_from_file

        with about_path("--checkpoint", checkpoint):  # the reader's "ckpt: no config.json ..." named no flag
            model_config, name = config_from_file(checkpoint, from_hf), checkpoint.name  # weights load in the tuner
            check_weights_readable(checkpoint)
    else:
        with typed_as("--preset", preset_name):  # else "unknown preset 'nope'; ...", naming no flag
            model_config, name = preset(preset_name), preset_name
    from sonar.model.transformer import check_fits_memory

    model_flag = f"--preset {preset_name!r}" if preset_name is not None else f"--checkpoint {checkpoint}"
    try:  # before the live table starts: scout or maverick would be killed for memory with no message
        check_fits_memory(model_config)
    except UserError as err:
        raise UserError(f"{model_flag}: {err}") from None
    from sonar.systems.config import COMPILE_MODES

    modes = name_list(compile_modes, "--compile", what="compile mode", choices=COMPILE_MODES)
    # else "--compile 'nope': compiles ['nope']: unknown; ...", the search space's keyword and lists
    refuse_unknown(modes, COMPILE_MODES, "--compile", compile_modes, what="compile mode")
    try:
        space = BENCH_SPACE.__class__(**{**BENCH_SPACE.__dict__, "compiles": modes})
    except UserError as err:
        raise UserError(f"--compile {compile_modes!r}: {err}") from None
    candidate = Candidate(id=name, model=model_config, workdir=workdir / name, seed=seed)
    if out is not None and out.resolve() in (candidate.workdir.resolve(), *candidate.workdir.resolve().parents,
                                             (workdir / "systems-prior.json").resolve()):
        # the tuner makes these directories (or writes its prior there) before the curve is written
        raise UserError(f"--out {out}: the tuner keeps its records there (--workdir {workdir}); "
                        "name a JSON file of its own for the curve")
    console = Console()
    points: list = []

    def on_trial(point) -> None:
        points.append(point)
        live.update(_trial_table(points, f"tuning {name} for {workload}"))

    # built before the live table starts, so a bad --workload or --quality-limit is one clean line
    with workload_flag(workload):
        tuner = SystemTuner(workload=workload, space=space, quality_limit=quality_limit, isolate=isolate,
                            checkpoint=checkpoint, prior_path=workdir / "systems-prior.json", on_trial=on_trial,
                            max_trials=trials)
        tuner.workload.check_fits(model_config, model_flag)
    slug = tuner.state_path(candidate).stem.removeprefix("tune-")
    if out is None:  # the default path was first looked at when the curve was written, after every trial
        out = workdir / f"curve-{name}-{slug}.json"
        _check_curve_path(out, f"{out} (the curve's default path; --out names another)")
    if preset_name is not None:  # after every check, so that a bad value is the only line printed
        console.print(f"{escape(preset_name)}: random weights, whose logits are noise that weight rounding moves by "
                      "several percent; quantized formats are judged fairly only on a trained --checkpoint")
    # a second `sonar tune` on this --workdir is refused, never interleaved with this one's records
    with exclusive(workdir, "tuning records"):
        with Live(_trial_table(points, f"tuning {name} for {workload}"), console=console,
                  refresh_per_second=2) as live:
            curve = tuner.run(candidate, trials)
            live.update(_trial_table(curve, f"tuning {name} for {workload}"))
        write_json_atomic(out, {"candidate": name, "workload": workload,
                                "curve": [p.__dict__ for p in curve]})
    best = min((p for p in curve if p.failure is None and p.quality_delta <= quality_limit),
               key=lambda p: p.latency_s, default=None)
    if best is not None:
        console.print(f"best: {best.extra['label']}  {best.latency_s * 1e3:.3f} ms  "
                      f"({best.extra.get('speedup_vs_default', float('nan')):.2f}x the default)")
    console.print(f"curve written to {out}")


@bench_app.command("tune")
def bench_tune(
    as_json: bool = typer.Option(False, "--json", help="print the results as JSON"),
    trials: int = typer.Option(24, help="tuning trials per architecture"),
    workload: str = typer.Option("decode:ctx=256", help="the objective's workload"),
    workdir: Annotated[Path, typer.Option(help="tuning records (the bench resumes from them)")] = Path(
        "runs/bench-tune"),
    archs: str = typer.Option(None, help="comma-separated subset of tiny,small,small-interleaved (default: all)"),
    quality_limit: float = typer.Option(0.01, help="largest acceptable quality delta, a relative error"
                                                   " from 0 to 1 (0.01: 1%)"),
    train_steps: int = typer.Option(100, help="train each architecture this many steps on the built-in corpus"
                                              " before tuning, so quality is judged on weights that carry"
                                              " signal (0: tune the random init)"),
) -> None:
    """Tuned vs untuned-default decode latency for three architectures, with the bandwidth roofline."""
    from sonar.systems.bench import architectures, run_bench
    from sonar.systems.tuner import MAX_TUNER_TRIALS, check_quality_limit
    from sonar.train.config import TRAINING_LIMITS

    chosen = None if archs is None else list(name_list(archs, "--archs", what="architecture",
                                                       choices=architectures()))
    if chosen is not None:  # else "archs ['nope']: unknown", the bench's keyword and a Python list
        refuse_unknown(chosen, list(architectures()), "--archs", archs, what="architecture")
    check_quality_limit(quality_limit, "--quality-limit")  # before the bandwidth is measured
    from sonar.systems.workload import Workload

    with workload_flag(workload):  # else refused by the bench in the workload's words, naming no flag
        parsed = Workload.parse(workload)
        for name, model_config in architectures().items():
            if chosen is None or name in chosen:
                parsed.check_fits(model_config, name)
    if not 1 <= trials <= MAX_TUNER_TRIALS:  # else "trials=0", naming the bench's keyword and no flag
        raise UserError(f"--trials {trials}: must be between 1 and {MAX_TUNER_TRIALS:,}")
    most = TRAINING_LIMITS["schedule_steps"]
    if not 0 <= train_steps <= most:  # else refused by the trainer only after "training N steps" was announced
        raise UserError(f"--train-steps {train_steps}: must be from 0 to {most:,} (0: tune the random init)")
    with about_path("--workdir", workdir):  # its refusals open with the path alone ("w: is a file; ...")
        check_run_dir(workdir, holds_run=holds_tuning_records, kind="tuning records", flag="--workdir")
    refuse_inside_a_search_run(workdir, "--workdir")
    console = Console(stderr=True)

    def progress(point) -> None:
        console.print(f"  trial {point.trial}: {point.extra['label']} {point.latency_s * 1e3:.3f} ms "
                      f"q={point.quality_delta:.4f} {escape(point.failure or '')}")

    report = run_bench(workdir=workdir, trials=trials, workload=workload, quality_limit=quality_limit,
                       archs=chosen, train_steps=train_steps,
                       on_trial=progress, log=lambda line: console.print(escape(line)))
    if as_json:
        print(dumps_strict(report, indent=1, default=str))
        return
    for r in report["results"]:
        print(f"{r['arch']} ({r['weights']}): {r['speedup']:.2f}x ({r['default_latency_s'] * 1e3:.2f} -> "
              f"{r['tuned_latency_s'] * 1e3:.2f} ms; {r['speedup_at_same_threads']:.2f}x at the same threads) "
              f"quality {r['quality_delta']:.4f}, {r['tuned_tokens_per_s']:.1f} tok/s of "
              f"{r['roofline_tokens_per_s']:.1f} roofline; {r['tuned_label']}")
