"""A suite of structured synthetic tables: many problems, so a scheduler is judged on more than one.

Table i of suite seed S is a pure function of (S, i): each structural knob takes one of its levels,
chosen so that every block of consecutive tables covers every level once, in a seeded order per knob
(a Latin-square-like design that does not depend on how many tables are asked for). Writing skips
tables already on disk and writes each one atomically, so an interrupted run resumes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonar.bench.synthetic import Structure, synthetic_table
from sonar.bench.table import BenchTable, load_table, write_table
from sonar.errors import UserError

# Each knob's levels; Structure documents what they mean.
STRUCTURE_LEVELS: dict[str, tuple] = {
    "late_bloomers": (0.0, 0.05, 0.15, 0.3),
    "tuning_cost": (0.1, 0.3, 1.0, 3.0, 10.0),
    "curve_noise": (0.005, 0.02, 0.05),
    "compiled_gain": (0.0, 2.5, 5.0),
    "latency_spread": (0.5, 1.0, 1.6),
    "feasible_share": (0.2, 0.5, 0.8),
}
SIZE_LEVELS: dict[str, tuple] = {
    "candidates": (24, 32, 48, 64, 96),
    "checkpoints": (4, 5, 6, 7),  # geometric from step 8: max_steps 64, 128, 256, 512
    "max_trials": (12, 24),
}
FIRST_CHECKPOINT = 8


@dataclass(kw_only=True, frozen=True)
class SuiteTable:
    name: str
    seed: int  # the table's own: architecture sample and noise
    candidates: int
    max_steps: int
    max_trials: int
    structure: Structure


def _level(levels: tuple, suite_seed: int, knob: int, index: int):
    block, position = divmod(index, len(levels))
    order = np.random.default_rng([suite_seed, knob, block]).permutation(len(levels))
    return levels[int(order[position])]


def suite_table(suite_seed: int, index: int) -> SuiteTable:
    """The settings of table `index` of the suite seeded `suite_seed`."""
    if suite_seed < 0 or index < 0:
        raise UserError(f"suite seed {suite_seed} and table index {index}: must be >= 0")
    knobs = list(STRUCTURE_LEVELS) + list(SIZE_LEVELS)
    levels = {**STRUCTURE_LEVELS, **SIZE_LEVELS}
    chosen = {name: _level(levels[name], suite_seed, k, index) for k, name in enumerate(knobs)}
    return SuiteTable(
        name=f"s{suite_seed}-t{index:03d}", seed=suite_seed * 1000 + index, candidates=chosen["candidates"],
        max_steps=FIRST_CHECKPOINT * 2 ** (chosen["checkpoints"] - 1), max_trials=chosen["max_trials"],
        structure=Structure(**{name: chosen[name] for name in STRUCTURE_LEVELS}),
    )


def build_suite_table(suite_seed: int, index: int) -> BenchTable:
    spec = suite_table(suite_seed, index)
    table = synthetic_table(candidates=spec.candidates, max_steps=spec.max_steps, max_trials=spec.max_trials,
                            seed=spec.seed, structure=spec.structure)
    provenance = {**table.header.provenance, "suite": {"seed": suite_seed, "index": index}}
    return BenchTable(header=dataclasses.replace(table.header, provenance=provenance), candidates=table.candidates)


def _same_table(path: Path, table) -> bool:
    """The file holds exactly these candidates (a table is a pure function of suite seed and index)."""
    try:
        return load_table(path).candidates == table.candidates
    except UserError:
        return False


def write_suite(out: Path, *, count: int, seed: int,
                progress: Callable[[str, bool], None] = lambda name, written: None) -> list[Path]:
    """Tables 0..count-1 of suite `seed` as `out/NAME.jsonl.gz`; existing ones are kept as they are."""
    if not 1 <= count <= 1000:  # table names carry three digits (s1-t000 .. s1-t999)
        raise UserError(f"--count {count}: must be between 1 and 1000")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        spec = suite_table(seed, index)
        path = out / f"{spec.name}.jsonl.gz"
        written = not path.exists()
        table = build_suite_table(seed, index)
        if written:
            write_table(path, table.header, table.candidates)
        elif not _same_table(path, table):
            raise UserError(f"{path}: exists and is not table {index} of suite seed {seed}; move it away or"
                            " choose another --out")
        paths.append(path)
        progress(spec.name, written)
    return paths
