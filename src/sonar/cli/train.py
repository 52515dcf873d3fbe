"""`sonar train`: train a preset on a corpus with a progress bar, then write an HF checkpoint and the
learning curve; and `sonar bench train`: training throughput against the machine's matmul peak."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sonar.checkpoint import save_pretrained
from sonar.cli.app import app
from sonar.cli.bench_group import bench_app
from sonar.cli.flag_terms import about_path, as_flags, resolve_device_flag, typed_as
from sonar.data.batches import check_split_holds
from sonar.data.cache import write_atomic
from sonar.data.corpus import absolute_corpus
from sonar.data.corpus_check import check_corpus
from sonar.data.dataset import DataConfig, prepare
from sonar.errors import UserError
from sonar.interfaces import Candidate
from sonar.model import preset
from sonar.model.transformer import check_seed
from sonar.outdir import MARKER, check_run_dir, exclusive
from sonar.train.bench import bench_preset, check_bench_steps
from sonar.train.config import TrainConfig
from sonar.train.device import compute_dtype, device_name, enable_fast_fp32, resolve_device
from sonar.train.flops import device_peak
from sonar.train.optimizer import weights_finite
from sonar.train.presets import train_config_for
from sonar.train.report import write_curve_json, write_curve_png
from sonar.train.resume import ResumeFlags, resume_run
from sonar.train.runtime import check_threads, idle_cores, use_threads
from sonar.train.state import STATE_FILE
from sonar.train.trainer import RUN_RECORD, CorpusTrainer

_SETTINGS = "train_config.json"
_DEFAULT_PRESET, _DEFAULT_STEPS = "tiny", 500


@app.command()
def train(
    preset_name: str = typer.Option(None, "--preset", help="model preset: debug, tiny, small (default: tiny)"),
    steps: int = typer.Option(None, help="train to this many optimizer steps (default: 500; on --resume, the"
                                         " run's first horizon)"),
    corpus: str = typer.Option(None, help="text file, directory, glob, .jsonl or .parquet (default: built-in)"),
    out: str = typer.Option(None, help="run directory (default: runs/<preset>)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out to --steps"),
    vocab: int = typer.Option(None, help="BPE vocabulary size (default: 4096)"),
    tokenizer: str = typer.Option(None, help="bpe or byte (default: bpe)"),
    seed: int = typer.Option(None, help="model initialisation seed (default: 0)"),
    threads: int = typer.Option(None, help="torch threads (default: the cores not already busy)"),
    seq_len: int = typer.Option(None, "--seq-len", help="tokens per row (default: the preset's); on --resume, another"
                                                       " length starts a new stage (mid-training) up to --steps"),
    device: str = typer.Option(None, help="cpu, cuda or cuda:N (default: cpu; on --resume, the run's own; a"
                                          " checkpoint restores onto another device, equal in value, not in bits)"),
) -> None:
    """Train a preset, then write DIR/model (HF format), DIR/curve.json and DIR/curve.png."""
    console = Console()
    if device is not None:
        resolve_device_flag(device)  # before any work: an absent device is one error, never a CPU fallback
    if seed is not None:
        check_seed(seed, "--seed ")  # before the run directory is made
    check_threads(threads)  # here, not in the settings: a resumed run's would name its train_config.json
    if preset_name is not None:
        try:
            preset(preset_name)  # "" included: never the default preset in disguise
        except UserError as err:
            raise UserError(f"--preset {preset_name!r}: {err}") from None
        _check_trainable(preset_name, "--preset", preset_name)  # a model preset (scout) may have no training settings
    if vocab is not None and tokenizer == "byte":  # else read by nothing: the run trained on 257 ids without a word
        raise UserError(f"--vocab {vocab}: sets the BPE vocabulary; the byte tokenizer's is fixed (257 ids)")
    if corpus is not None and not resume:  # on --resume, first compared with the run's own
        # a cheap look, naming the corpus as given (the run records it absolute); train reads the default field
        with typed_as("--corpus", corpus, opening="corpus "):  # else "corpus path 'nope' ...", naming no flag
            check_corpus(corpus, text_field=DataConfig.text_field)
    threads = threads if threads is not None else idle_cores(torch.get_num_threads())
    out = Path(out) if out is not None else Path("runs") / (preset_name or _DEFAULT_PRESET)
    with about_path("--out", out):  # its refusals open with the path alone ("r: is a file; ...")
        check_run_dir(out, holds_run=_holds_train_run, kind="sonar train run")
    for name in ("curve.json", "curve.png"):  # else "cannot write (Is a directory ...)" once training had run
        if (out / name).exists() and not (out / name).is_file():
            raise UserError(f"{out / name}: exists and is not a file, and the run writes its curve there; move it"
                            " away")
    if (out / "model").exists() and not (out / "model").is_dir():  # else found only once the training had run
        raise UserError(f"{out / 'model'}: exists and is not a folder, and the run writes its checkpoint there; move"
                        " it away")
    flags = ResumeFlags(preset=preset_name, steps=steps, corpus=corpus, tokenizer=tokenizer, vocab=vocab, seed=seed,
                        seq_len=seq_len)
    with exclusive(out, "sonar train run"):  # a second `sonar train` on this --out is refused, never interleaved
        _train_run(out, flags, resume=resume, threads=threads, device=device, console=console)


def _train_run(out: Path, flags: ResumeFlags, *, resume: bool, threads: int | None, device: str | None,
               console: Console) -> None:
    with as_flags(_typed_flags(flags)):
        config, corpus, preset_name, steps, seed = _settings(out, flags, resume, threads)
    if device is not None:
        config = config.replace(device=device)
    elif resume:
        _check_saved_device(out, config.device)
    with console.status("preparing the corpus (cached after the first time)"), as_flags(_typed_flags(flags)), \
            typed_as("--corpus", flags.corpus, opening="corpus "):
        data = prepare(dataclasses.replace(config.data, corpus=corpus))
    longest = max([config.seq_len, *(stage.seq_len for stage in config.stages)])
    for split, tokens in (("training", data.record["train_tokens"]), ("validation", data.record["val_tokens"])):
        check_split_holds(split, tokens, longest)  # before the settings are saved: no run is left behind
    if not resume or config.stages:  # saved only once the corpus has proved readable; a new stage is kept
        write_atomic(out / _SETTINGS, json.dumps(config.to_dict(), indent=1).encode())
    if not resume:  # the preset and seed, which the settings do not hold, for a resume cut off before the first
        # checkpoint (it trained the default preset); the trainer's full record replaces this one
        write_atomic(_state_dir(out) / RUN_RECORD, json.dumps({"candidate": preset_name, "seed": seed}).encode())
    trainer = CorpusTrainer(config, data=data)
    candidate = Candidate(id=preset_name, model=trainer.fit_vocab(preset(preset_name)), workdir=_state_dir(out),
                          seed=seed)
    entropy = data.record["unigram_entropy_nats"]
    console.print(f"corpus {escape(repr(data.record['source']))}: {data.record['train_tokens']:,} train and "
                  f"{data.record['val_tokens']:,} val tokens, vocab {data.vocab_size}, "
                  f"{config.threads or torch.get_num_threads()} threads, device {config.device}")
    start = time.perf_counter()
    curve = _train_with_progress(trainer, candidate, steps, console)
    seconds = time.perf_counter() - start
    model = trainer.load_model(candidate)
    _check_finite(curve, model, out)
    save_pretrained(model, out / "model", overwrite=True)  # the run's own folder; the tokenizer copied in stays
    if (data.path / "tokenizer.json").is_file():
        # atomically: a copy cut off half way would be a model whose tokenizer a later load chokes on
        write_atomic(out / "model" / "tokenizer.json", (data.path / "tokenizer.json").read_bytes())
    record = json.loads((candidate.workdir / RUN_RECORD).read_text())
    write_curve_json(out / "curve.json", curve, preset=preset_name, unigram_entropy_nats=entropy,
                     cost=record["cost"], mfu=record["mfu"], flops_per_token=record["flops_per_token"],
                     stage_boundaries=record["stage_boundaries"])
    write_curve_png(out / "curve.png", curve, title=f"{preset_name} on {Path(data.record['source']).name}",
                    entropy=entropy, stage_tokens=[b["tokens"] for b in record["stage_boundaries"]])
    final = curve[-1]
    console.print(f"step {final.step}: val loss [bold]{final.val_loss:.3f}[/] nats/token, unigram entropy "
                  f"{entropy:.3f} nats/token; {seconds:.0f} s this call, {record['cost']['seconds']:.0f} s and "
                  f"{final.tokens:,} tokens in all, MFU {record['mfu']:.1%}")
    console.print(f"wrote {out / 'model'}, {out / 'curve.json'}, {out / 'curve.png'}")


def _check_trainable(name: str, flag: str, given: str) -> None:
    """A preset the training settings cover, refused in the terms of the flag it came in: the settings say only
    "no training settings for preset ''" (of `--presets ,`), naming neither the flag nor what was typed."""
    try:
        train_config_for(name, steps=1)  # with the preset's own shape, only the preset itself can be refused
    except UserError as err:
        raise UserError(f"{flag} {given!r}: {err}") from None


def _typed_flags(flags: ResumeFlags) -> dict[str, str]:
    """The settings' keywords (`steps=0: ...`) of the values typed on the command line, as their flags. Only
    those: on --resume the others come from the run's train_config.json, and a refusal of one of them names that
    file, never a flag the user did not give."""
    keywords = {"steps": ("steps", "--steps"), "seq_len": ("seq_len", "--seq-len"),
                "vocab": ("vocab_size", "--vocab"), "tokenizer": ("tokenizer", "--tokenizer")}
    return {keyword: flag for field, (keyword, flag) in keywords.items() if getattr(flags, field) is not None}


def _check_saved_device(out: Path, device: str) -> None:
    """The device a resumed run keeps from its settings is present here: a run moved from a GPU machine failed
    once the corpus was read, as "device='cuda': ...; use device=cpu", naming neither the file nor --device."""
    try:
        resolve_device(device)
    except UserError as err:
        reason = str(err).partition(": ")[2] or str(err)
        raise UserError(f"{out / _SETTINGS}: the run trained on device {device!r}, and {reason.split('; use ')[0]};"
                        " pass --device cpu (or another device this machine has) to resume it here") from None


def _state_dir(out: Path) -> Path:
    """Where a run keeps its training state and run record."""
    return out / "state"


def _holds_train_run(directory: Path) -> bool:
    """A `sonar train` run: its settings or its training state, and no other command's marker (a post-training
    run also keeps a state/ folder, an export a model/ folder)."""
    if (directory / MARKER).exists():
        return False
    return (directory / _SETTINGS).is_file() or (directory / "state" / STATE_FILE).is_file()


def _check_finite(curve, model, out: Path) -> None:
    """A run whose loss or weights stopped being finite (it diverged) writes no model and no curve: one
    UserError, as post-training says it."""
    final = curve[-1] if curve else None
    bad = final is not None and not (math.isfinite(final.train_loss) and math.isfinite(final.val_loss))
    if bad or not weights_finite(model):
        raise UserError(f"training diverged by step {final.step if final else 0}: the loss or the weights are no"
                        f" longer finite; {out / 'model'} was not written (try a lower learning rate)")


def _settings(out: Path, flags: ResumeFlags, resume: bool,
              threads: int | None) -> tuple[TrainConfig, str | None, str, int, int]:
    """(settings, where the corpus is read from, preset, steps, seed). A fresh run fixes its settings (the
    schedule's horizon is --steps); --resume reloads the saved ones and refuses flags that contradict them, so
    training past the first horizon continues at the final learning rate."""
    if resume:
        run = resume_run(out, _SETTINGS, flags, threads=threads)
        seed = run.seed if run.seed is not None else flags.seed
        return run.config, run.corpus, run.preset or flags.preset or _DEFAULT_PRESET, run.until_step, seed or 0
    if (out / "state" / STATE_FILE).exists():
        raise UserError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
    # The corpus recorded absolute: a resume from another working directory reads the same files.
    given = {"corpus": absolute_corpus(flags.corpus), "tokenizer": flags.tokenizer, "vocab_size": flags.vocab}
    data = DataConfig(**{k: v for k, v in given.items() if v is not None})
    name = flags.preset or _DEFAULT_PRESET
    steps = flags.steps if flags.steps is not None else _DEFAULT_STEPS
    shape = {"seq_len": flags.seq_len} if flags.seq_len is not None else {}
    config = train_config_for(name, steps=steps, data=data, threads=threads, **shape)
    return config, config.data.corpus, name, steps, flags.seed or 0


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
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N (CUDA: bf16 autocast, MFU against a bf16 matmul"
                                           " peak measured in the same run)"),
    batch_size: int = typer.Option(None, help="rows per step (default: each preset's)"),
    seq_len: int = typer.Option(None, help="tokens per row (default: each preset's)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Training tokens/s and MFU: achieved FLOP/s as a fraction of the device's measured matmul peak."""
    # every flag before the peak is measured; the checks underneath name their keywords (`steps=0`, `seq_len=`)
    with as_flags({"steps": "--steps"}):
        check_bench_steps(steps)
    target = resolve_device_flag(device)
    shape = {k: v for k, v in {"batch_size": batch_size, "seq_len": seq_len}.items() if v is not None}
    names = [name.strip() for name in presets.split(",")]
    for name in names:
        _check_trainable(name, "--presets", presets)
    repeated = sorted({name for name in names if names.count(name) > 1 and name})
    if repeated:
        raise UserError(f"--presets {presets!r}: {', '.join(repeated)} named more than once")
    with as_flags({"batch_size": "--batch-size", "seq_len": "--seq-len"}):
        configs = {name: train_config_for(name, steps=1000, device=device, **shape) for name in names}
    use_threads(threads)  # once every flag is checked: a refusal leaves torch's thread count as it was
    enable_fast_fp32(target)
    dtype = compute_dtype(None, target)
    peak = device_peak(target, dtype, refresh=True)
    results = [bench_preset(name, peak_flops=peak, steps=steps, config=config) for name, config in configs.items()]
    report = {"device": str(target), "device_name": device_name(target), "threads": torch.get_num_threads(),
              "matmul_peak_dtype": str(dtype), "matmul_peak_flops_per_s": peak, "results": results}
    if as_json:
        print(json.dumps(report, indent=1))
        return
    console = Console()
    console.print(f"{dtype} matmul peak {peak / 1e9:.1f} GFLOP/s on {report['device_name']}")
    for r in results:
        console.print(f"{r['preset']:>6}: {r['tokens_per_s']:9.0f} tok/s  {r['achieved_flops_per_s'] / 1e9:6.2f} "
                      f"GFLOP/s  MFU {r['mfu']:.1%}")
