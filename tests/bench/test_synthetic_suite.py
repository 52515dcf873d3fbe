"""The structured synthetic suite: deterministic, balanced over each knob's levels, resumable."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sonar.bench.synthetic import Structure
from sonar.bench.synthetic_suite import SIZE_LEVELS, STRUCTURE_LEVELS, build_suite_table, suite_table, write_suite
from sonar.bench.table import load_table, write_table
from sonar.cli.app import app


def test_each_table_is_a_function_of_the_suite_seed_and_its_index():
    assert suite_table(4, 7) == suite_table(4, 7)
    assert suite_table(4, 7) != suite_table(5, 7)
    assert suite_table(4, 7).name == "s4-t007" and suite_table(4, 7).seed == 4007


def test_every_block_of_tables_covers_every_level_of_every_knob():
    for name, levels in STRUCTURE_LEVELS.items():
        block = [getattr(suite_table(0, i).structure, name) for i in range(len(levels))]
        assert sorted(block) == sorted(levels), name
    for name, levels in SIZE_LEVELS.items():
        block = {suite_table(0, len(levels) + i) for i in range(len(levels))}  # the second block too
        values = sorted(getattr(t, name) if name != "checkpoints" else len(_checkpoints(t)) for t in block)
        assert values == sorted(levels), name


def _checkpoints(spec):
    from sonar.bench.space import geometric_checkpoints

    return geometric_checkpoints(spec.max_steps)


def test_write_suite_labels_each_table_and_skips_the_ones_already_written(tmp_path):
    paths = write_suite(tmp_path, count=2, seed=1)
    first = load_table(paths[0])
    spec = suite_table(1, 0)
    assert first.header.synthetic and first.header.provenance["suite"] == {"seed": 1, "index": 0}
    assert Structure(**first.header.provenance["structure"]) == spec.structure
    assert len(first.candidates) == spec.candidates and first.header.max_steps == spec.max_steps
    stamp = paths[0].stat().st_mtime_ns
    written = []
    write_suite(tmp_path, count=3, seed=1, progress=lambda name, new: written.append((name, new)))
    assert written == [("s1-t000", False), ("s1-t001", False), ("s1-t002", True)]
    assert paths[0].stat().st_mtime_ns == stamp
    assert sorted(os.listdir(tmp_path)) == ["s1-t000.jsonl.gz", "s1-t001.jsonl.gz", "s1-t002.jsonl.gz"]


@pytest.mark.parametrize("content", [b"junk\n", b"", "another table"])
def test_write_suite_refuses_a_file_in_a_tables_place_that_is_not_that_table(tmp_path, content):
    from sonar.errors import UserError

    path = tmp_path / "s1-t000.jsonl.gz"
    if content == "another table":
        other = build_suite_table(2, 0)
        write_table(path, other.header, other.candidates)
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(UserError, match="not table 0 of suite seed 1"):
        write_suite(tmp_path, count=1, seed=1)
    assert path.read_bytes() == before


def test_cli_synth_suite(tmp_path):
    result = CliRunner().invoke(app, ["bench", "synth-suite", "--out", str(tmp_path), "--count", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "2 written" in result.output and len(list(tmp_path.glob("s3-t*.jsonl.gz"))) == 2
    refused = CliRunner().invoke(app, ["bench", "synth-suite", "--out", str(tmp_path), "--count", "0"])
    assert refused.exit_code == 2 and "--count 0" in refused.output


BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


@pytest.mark.parametrize("index", [0, 29])
def test_the_committed_suite_is_what_the_generator_writes(tmp_path, index):
    table = build_suite_table(1, index)
    write_table(tmp_path / "t.jsonl.gz", table.header, table.candidates)  # floats as the file holds them
    committed = BENCHMARKS / "synthetic-suite" / f"s1-t{index:03d}.jsonl.gz"
    assert load_table(tmp_path / "t.jsonl.gz") == load_table(committed)


def test_the_committed_synthetic_64_is_the_unstructured_default():
    from sonar.bench.synthetic import synthetic_table

    assert load_table(BENCHMARKS / "synthetic-64.jsonl.gz") == synthetic_table()
