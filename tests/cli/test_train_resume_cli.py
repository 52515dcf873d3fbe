"""`sonar train --resume`: a flag that contradicts the run is one clear error and changes nothing;
a received checkpoint never runs code."""

import json
import random
import re
import shutil

import pytest
from typer.testing import CliRunner

from crafted_pickle import write_crafted_checkpoint
from sonar.cli import app

WORDS = "the king queen lord lady love death night day sword crown heart blood fair sweet".split()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-step debug run (its first horizon), shared read-only by the tests that only read it."""
    root = tmp_path_factory.mktemp("resume")
    corpus = root / "corpus"
    corpus.mkdir()
    rng = random.Random(2)
    for i in range(10):
        (corpus / f"d{i}.txt").write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(80)))
    env = {"SONAR_CACHE": str(root / "cache")}
    run = root / "run"
    result = _invoke(env, "--preset", "debug", "--corpus", str(corpus), "--vocab", "300", "--steps", "4",
                     "--out", str(run))
    assert result.exit_code == 0, result.output
    return {"run": run, "corpus": corpus, "env": env}


def _invoke(env, *args):
    return CliRunner().invoke(app, ["train", *args], env=env)


def _resume(trained, run, *args):
    return _invoke(trained["env"], "--out", str(run), "--resume", *args)


def _snapshot(run):
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, rule", [
    (["--steps", "2"], r"--steps 2: this run has already trained 4 steps; pass --steps >= 4"),
    (["--steps", "0"], r"--steps 0: must be >= 1"),
    (["--tokenizer", "byte"], r"--tokenizer 'byte' contradicts the run being resumed, which has 'bpe'"),
    (["--vocab", "200"], r"--vocab 200 contradicts .* which has 300"),
    (["--seed", "3"], r"--seed 3 contradicts .* which has 0"),
    (["--preset", "tiny"], r"--preset 'tiny' contradicts .* which has 'debug'"),
    (["--corpus", "elsewhere.txt"], r"--corpus 'elsewhere.txt' contradicts"),
])
def test_a_contradicting_flag_is_one_error_and_changes_nothing(trained, args, rule):
    before = _snapshot(trained["run"])
    result = _resume(trained, trained["run"], *args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert re.search(rule, line), line
    assert _snapshot(trained["run"]) == before


def test_agreeing_flags_and_no_steps_resume_to_the_saved_horizon(trained, tmp_path):
    run = shutil.copytree(trained["run"], tmp_path / "run")
    result = _resume(trained, run, "--preset", "debug", "--corpus", str(trained["corpus"]), "--tokenizer", "bpe",
                     "--vocab", "300", "--seed", "0")
    assert result.exit_code == 0, result.output
    assert [p["step"] for p in json.loads((run / "curve.json").read_text())["curve"]] == [1, 2, 3, 4]


def test_a_crafted_checkpoint_in_the_run_never_runs(trained, tmp_path):
    run = shutil.copytree(trained["run"], tmp_path / "run")
    marker = tmp_path / "marker"
    write_crafted_checkpoint(run / "state" / "train_state.pt", marker)
    result = _resume(trained, run, "--steps", "6")
    assert result.exit_code == 2 and "refused to load" in result.stderr, result.output
    assert not marker.exists()


def test_a_corrupt_settings_file_is_named(trained, tmp_path):
    run = shutil.copytree(trained["run"], tmp_path / "run")
    (run / "train_config.json").write_text('{"batch_size": ')
    result = _resume(trained, run)
    assert result.exit_code == 2 and "train_config.json: not a readable run settings file" in result.stderr


@pytest.mark.parametrize("flag, value, rule", [("--steps", "0", "--steps 0: the benchmark measures at least one"),
                                               ("--threads", "0", "--threads 0: must be between 1 and")])
def test_bench_train_refuses_bad_counts_before_measuring(tmp_path, flag, value, rule):
    result = CliRunner().invoke(app, ["bench", "train", "--presets", "debug", flag, value],
                                env={"SONAR_CACHE": str(tmp_path)})
    assert result.exit_code == 2 and rule in result.stderr
