"""`sonar bench synth-suite`: write the suite of structured synthetic tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sonar.cli.bench_group import bench_app
from sonar.cli.flag_terms import about_path
from sonar.errors import UserError
from sonar.outdir import check_run_dir


def _holds_only_tables(directory: Path) -> bool:
    return all(entry.is_file() and entry.name.endswith(".jsonl.gz") for entry in directory.iterdir())


@bench_app.command("synth-suite")
def synth_suite(
    out: Annotated[Path, typer.Option("--out", help="directory for the tables (NAME.jsonl.gz)")],
    count: int = typer.Option(30, help="tables 0..count-1 of the suite"),
    seed: int = typer.Option(0, help="suite seed: with the table index, it decides every table"),
) -> None:
    """Synthetic tables whose structure varies (late bloomers, tuning cost, noise, compiled gains,
    feasible share, size); tables already in --out are kept, so a rerun resumes."""
    from sonar.bench.synthetic_suite import write_suite

    if not 0 <= seed < 2**32:  # as `bench build --seed`: numpy's seed range, so a typo is not a suite of its own
        raise UserError(f"--seed {seed}: must be an integer in 0..{2**32 - 1}")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory; name a directory for the tables")
    # tables are added beside whatever is there, so only a new directory or an earlier suite's is safe
    with about_path("--out", out):  # its refusals open with the path alone ("s: is not empty ...")
        check_run_dir(out, holds_run=_holds_only_tables, kind="synthetic suite")
    console = Console()
    written = []
    write_suite(out, count=count, seed=seed, progress=lambda name, new: written.append(name) if new else None)
    console.print(f"{count} SYNTHETIC tables (modelled, nothing measured) in {out}: {len(written)} written,"
                  f" {count - len(written)} already there")
