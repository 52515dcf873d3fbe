"""`sonar bench suite` on CI-sized inputs: two small synthetic tables, two seeds; a rerun resumes."""

import json

import pytest
from typer.testing import CliRunner

from sonar.bench.suite import SuiteSettings, plan_cells, read_work, run_suite, scoreboard
from sonar.bench.synthetic import synthetic_table
from sonar.bench.table import write_table
from sonar.cli.app import app

METHODS = "sonar,random_feasible,hyperband_joint,optuna_sh_random"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    for seed in (11, 12):
        t = synthetic_table(candidates=12, max_steps=64, max_trials=8, seed=seed)
        write_table(folder / f"syn-{seed}.jsonl", t.header, t.candidates)
    return folder


def test_suite_writes_a_stamped_scoreboard_and_a_rerun_resumes(tables, tmp_path):
    pytest.importorskip("optuna")
    out = tmp_path / "suite.json"
    args = ["bench", "suite", str(tables), "--out", str(out), "--seeds", "2", "--quantiles", "0.25,0.75",
            "--methods", METHODS, "--jobs", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    board = json.loads(out.read_text())
    assert {"git_commit", "git_dirty"} <= set(board) and {"torch", "optuna", "syne-tune"} <= set(board["versions"])
    assert board["settings"]["rules"] == ["completed", "checkpoint"] and len(board["tables"]) == 2
    for rule in ("completed", "checkpoint"):
        assert set(board["methods"][rule]) == set(METHODS.split(","))
        row = board["methods"][rule]["sonar"]
        assert {"speedup_1pct", "speedup_gap10", "speedup_top3", "speedup_best", "anytime_area",
                "failures_speedup_1pct", "failures_speedup_gap10"} <= set(row)
        assert row["cells"] == 4 and row["seeds"] == 8 and 0 <= row["anytime_area"] <= 1
        ahead = board["sonar_ahead"][rule]
        assert ahead["cells"] == 4 and 0 <= ahead["speedup_1pct"] <= 1 and 0 <= ahead["speedup_gap10"] <= 1
    work = tmp_path / "suite.work.jsonl"
    cells = 2 * 2 * 2 * 4 * 2
    assert len(work.read_text().splitlines()) == cells
    assert "SONAR ahead of every peer" in result.output

    with open(work, "a") as f:
        f.write('{"table": "torn')  # an interrupted append
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    lines = work.read_text().splitlines()
    assert len(lines) == cells + 1  # nothing reran; the torn line stays, ended, and is ignored
    assert json.loads(out.read_text())["methods"] == board["methods"]


def test_a_rerun_computes_only_the_missing_cells(tables, tmp_path):
    settings = SuiteSettings(tables=(tables / "syn-11.jsonl",), seeds=2, quantiles=(0.5,), rules=("completed",),
                             methods=("random_feasible",), jobs=1)
    work = tmp_path / "w.jsonl"
    rows = run_suite(settings, work)
    assert len(rows) == len(plan_cells(settings)) == 2
    kept = work.read_text().splitlines()[:1]
    work.write_text(kept[0] + "\n")
    seen = []
    run_suite(settings, work, progress=lambda done, total, text: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)] and len(read_work(work)) == 2
    assert scoreboard(rows)["methods"]["completed"]["random_feasible"]["cells"] == 1


def test_bad_suite_settings_are_refused(tables):
    from sonar.errors import UserError

    with pytest.raises(UserError, match="quantile 1.5"):
        SuiteSettings(tables=(tables,), quantiles=(1.5,))
    with pytest.raises(UserError, match="methods \\['nope'\\]"):
        plan_cells(SuiteSettings(tables=(tables / "syn-11.jsonl",), methods=("nope",)))
