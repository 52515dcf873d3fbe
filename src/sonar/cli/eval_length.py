"""`sonar eval length CHECKPOINT`: loss by position at multiples of the training length, with and
without attention temperature tuning, through the full forward and the KV-cached decode path, plus a
passkey retrieval test; writes JSON and a PNG."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from sonar.checkpoint import load_pretrained
from sonar.cli.eval_group import eval_app
from sonar.cli.flag_terms import about_path, as_flags, as_typed_lists, same_named_flags, typed_as
from sonar.cli.lists import ascii_number
from sonar.errors import UserError
from sonar.longctx.length import LengthEval, evaluate_length
from sonar.longctx.plot import write_length_png
from sonar.longctx.source import resolve
from sonar.outdir import check_claim, writing
from sonar.strict_json import dumps_strict
from sonar.train.runtime import check_threads


def _ints(flag: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(ascii_number(v)) for v in text.split(","))
    except ValueError:
        raise UserError(f"{flag} {text!r}: give comma-separated integers, e.g. 1,2,4,8,16") from None


def _floats(flag: str, text: str) -> tuple[float, ...]:
    try:
        return tuple(float(ascii_number(v)) for v in text.split(","))
    except ValueError:
        raise UserError(f"{flag} {text!r}: give comma-separated numbers, e.g. 0,0.5,1") from None


@eval_app.command("length")
def eval_length(
    checkpoint: str = typer.Argument(..., help="a `sonar train` run directory or a transformers checkpoint"),
    out: str = typer.Option(None, help="output folder (default: CHECKPOINT/length)"),
    corpus: str = typer.Option(None, help="corpus whose held-out split is read (default: the run's)"),
    train_len: int = typer.Option(None, help="training sequence length (default: the run's seq_len)"),
    multiples: str = typer.Option("1,2,4,8,16", help="lengths as multiples of the training length"),
    windows: int = typer.Option(4, help="held-out windows per length"),
    cached_windows: int = typer.Option(1, help="windows at the longest length also decoded through the KV cache"
                                               " (0: skip the cached path)"),
    cache_block: int = typer.Option(1, help="tokens per cached call (1: token-by-token decode)"),
    depths: str = typer.Option("0,0.5,1", help="passkey depths (0: start of the window, 1: just before the question)"),
    threads: int = typer.Option(None, help="torch threads (default: torch's)"),
) -> None:
    """Write OUT/length.json and OUT/length.png: val loss by position bucket (width = the training
    length) at each multiple, per setting; and passkey retrieval accuracy by length and depth."""
    import torch

    check_threads(threads)
    if not checkpoint.strip():  # Path('') is the working directory: "error: : neither a `sonar train` run ..."
        raise UserError(f"CHECKPOINT {checkpoint!r}: name a `sonar train` run directory or a checkpoint")
    if threads is not None:
        torch.set_num_threads(threads)
    out_dir = Path(out) if out is not None else Path(checkpoint) / "length"
    # each named only by a path made absolute, or the corpus's words: "/home/u/x.txt: exists and is not ...",
    # "corpus path 'nope' does not exist"
    with about_path("--out" if out is not None else "--out (default CHECKPOINT/length)", out_dir):
        check_claim(out_dir, kind="eval-length", overwrite=True)  # before the measurement, not after it
    with typed_as("--corpus", corpus, opening="corpus "):
        source = resolve(checkpoint, corpus=corpus, train_len=train_len)
    with as_flags(same_named_flags("windows", "cached_windows", "cache_block")), \
            as_typed_lists({"multiples": ("--multiples", multiples), "depths": ("--depths", depths)}):
        # train_len may be the run's; the lists were refused as "multiples=[0]: ...", keyword and Python list
        spec = LengthEval(train_len=source.train_len, multiples=_ints("--multiples", multiples), windows=windows,
                          cached_windows=cached_windows, cache_block=cache_block, depths=_floats("--depths", depths))
    model = load_pretrained(source.model_dir)
    results = evaluate_length(model, source.documents, eot_id=source.eot_id, vocab_size=source.vocab_size, spec=spec)
    results = {"checkpoint": str(checkpoint), "corpus": source.corpus, **results}
    with writing(out_dir, kind="eval-length", overwrite=True) as staging:  # replaces only the files sonar wrote there
        (staging / "length.json").write_text(dumps_strict(results, indent=1))
        write_length_png(staging / "length.png", results, title=f"{Path(checkpoint).name}: loss by position")
    console = Console()
    console.print(results["note"])
    for s in results["settings"]:
        cells = "  ".join(f"{m}x {v['mean_loss']:.3f}" for m, v in s["lengths"].items())
        extra = f"  (max |cached - full| {s['max_abs_diff_vs_full']:.1e})" if s["path"] == "cached" else ""
        console.print(f"{s['name']:>18}: {cells}{extra}")
    console.print(f"wrote {out_dir / 'length.json'}, {out_dir / 'length.png'}")
