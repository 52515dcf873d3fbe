"""`sonar train`: train a preset on a corpus with a progress bar, then write an HF checkpoint and the
learning curve; and `sonar bench train`: training throughput against the machine's matmul peak."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sonar.checkpoint import save_pretrained
from sonar.cli.app import app
from sonar.cli.bench_group import bench_app
from sonar.data.cache import write_atomic
from sonar.data.dataset import DataConfig, prepare
from sonar.errors import UserError
from sonar.interfaces import Candidate
from sonar.model import preset
from sonar.outdir import check_run_dir
from sonar.train.bench import bench_preset
from sonar.train.config import TrainConfig
from sonar.train.flops import matmul_peak
from sonar.train.presets import train_config_for
from sonar.train.report import write_curve_json, write_curve_png
from sonar.train.runtime import idle_cores
from sonar.train.state import STATE_FILE
from sonar.train.trainer import RUN_RECORD, CorpusTrainer

_SETTINGS = "train_config.json"


@app.command()
def train(
    preset_name: str = typer.Option("tiny", "--preset", help="model preset: debug, tiny, small"),
    steps: int = typer.Option(500, help="train to this many optimizer steps"),
    corpus: str = typer.Option(None, help="text file, directory, glob, .jsonl or .parquet (default: built-in)"),
    out: str = typer.Option(None, help="run directory (default: runs/<preset>)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out to --steps"),
    vocab: int = typer.Option(4096, help="BPE vocabulary size"),
    tokenizer: str = typer.Option("bpe", help="bpe or byte"),
    seed: int = typer.Option(0, help="model initialisation seed"),
    threads: int = typer.Option(None, help="torch threads (default: the cores not already busy)"),
) -> None:
    """Train a preset, then write DIR/model (HF format), DIR/curve.json and DIR/curve.png."""
    console = Console()
    threads = threads if threads is not None else idle_cores(torch.get_num_threads())
    out = Path(out) if out is not None else Path("runs") / preset_name
    check_run_dir(out, holds_run=lambda d: (d / _SETTINGS).is_file() or (d / "state").is_dir(), kind="sonar train run")
    config = _settings(out, preset_name, steps, resume, DataConfig(corpus=corpus, vocab_size=vocab,
                                                                  tokenizer=tokenizer), threads)
    with console.status("preparing the corpus (cached after the first time)"):
        data = prepare(config.data)
    if not resume:  # saved only once the corpus has proved readable
        write_atomic(out / _SETTINGS, json.dumps(config.to_dict(), indent=1).encode())
    trainer = CorpusTrainer(config, data=data)
    candidate = Candidate(id=preset_name, model=trainer.fit_vocab(preset(preset_name)), workdir=out / "state",
                          seed=seed)
    entropy = data.record["unigram_entropy_nats"]
    console.print(f"corpus {data.record['source']!r}: {data.record['train_tokens']:,} train and "
                  f"{data.record['val_tokens']:,} val tokens, vocab {data.vocab_size}, "
                  f"{config.threads or torch.get_num_threads()} threads")
    start = time.perf_counter()
    curve = _train_with_progress(trainer, candidate, steps, console)
    seconds = time.perf_counter() - start
    model = trainer.load_model(candidate)
    save_pretrained(model, out / "model", overwrite=True)  # the run's own folder; the tokenizer copied in stays
    if (data.path / "tokenizer.json").is_file():
        shutil.copyfile(data.path / "tokenizer.json", out / "model" / "tokenizer.json")
    record = json.loads((candidate.workdir / RUN_RECORD).read_text())
    write_curve_json(out / "curve.json", curve, preset=preset_name, unigram_entropy_nats=entropy,
                     cost=record["cost"], mfu=record["mfu"], flops_per_token=record["flops_per_token"])
    write_curve_png(out / "curve.png", curve, title=f"{preset_name} on {Path(data.record['source']).name}",
                    entropy=entropy)
    final = curve[-1]
    console.print(f"step {final.step}: val loss [bold]{final.val_loss:.3f}[/] nats/token, unigram entropy "
                  f"{entropy:.3f} nats/token; {seconds:.0f} s this call, {record['cost']['seconds']:.0f} s and "
                  f"{final.tokens:,} tokens in all, MFU {record['mfu']:.1%}")
    console.print(f"wrote {out / 'model'}, {out / 'curve.json'}, {out / 'curve.png'}")


def _settings(out: Path, preset_name: str, steps: int, resume: bool, data: DataConfig,
              threads: int | None) -> TrainConfig:
    """A fresh run fixes its settings (the schedule's horizon is --steps); --resume reloads the saved
    ones, so training past the first horizon continues at the final learning rate."""
    saved = out / _SETTINGS
    if resume:
        if not saved.is_file():
            raise UserError(f"--resume: {out} holds no run to resume")
        settings = json.loads(saved.read_text())
        settings["data"] = DataConfig(**settings["data"])
        settings["threads"] = threads
        return TrainConfig(**settings)
    if (out / "state" / STATE_FILE).exists():
        raise UserError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
    return train_config_for(preset_name, steps=steps, data=data, threads=threads)


def _train_with_progress(trainer: CorpusTrainer, candidate: Candidate, steps: int, console: Console):
    columns = (
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} tok/s"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("training", total=steps, loss="-", rate="-")
        marks = {}

        def on_step(state, until_step):
            if "first" not in marks:  # rate over this call's steps only
                marks["first"] = (state.tokens, state.seconds)
            tokens0, seconds0 = marks["first"]
            rate = (state.tokens - tokens0) / (state.seconds - seconds0) if state.seconds > seconds0 else 0.0
            window = state.losses[-10:]
            progress.update(task, completed=state.step, loss=f"{sum(window) / len(window):.3f}", rate=f"{rate:,.0f}")
            if state.curve and state.curve[-1]["step"] == state.step:  # a log line per evaluation
                point = state.curve[-1]
                progress.console.print(f"step {state.step}: train {point['train_loss']:.3f}, val "
                                       f"{point['val_loss']:.3f}, {rate:,.0f} tok/s, {state.seconds:.0f} s")

        trainer.on_step = on_step
        return trainer.run(candidate, steps)


@bench_app.command("train")
def bench_train(
    presets: str = typer.Option("debug,tiny,small", help="comma-separated presets"),
    steps: int = typer.Option(3, help="measured steps per preset (after 2 warm-up steps)"),
    threads: int = typer.Option(None, help="torch threads (default: the cores not already busy)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Training tokens/s and achieved FLOP/s as a fraction of this machine's measured fp32 matmul peak."""
    torch.set_num_threads(threads if threads is not None else idle_cores(torch.get_num_threads()))
    peak = matmul_peak(refresh=True)
    results = [bench_preset(name.strip(), peak_flops=peak, steps=steps) for name in presets.split(",")]
    report = {"threads": torch.get_num_threads(), "matmul_peak_flops_per_s": peak, "results": results}
    if as_json:
        print(json.dumps(report, indent=1))
        return
    console = Console()
    console.print(f"fp32 matmul peak {peak / 1e9:.1f} GFLOP/s on {report['threads']} threads")
    for r in results:
        console.print(f"{r['preset']:>6}: {r['tokens_per_s']:9.0f} tok/s  {r['achieved_flops_per_s'] / 1e9:6.2f} "
                      f"GFLOP/s  {r['fraction_of_peak']:.1%} of peak")
