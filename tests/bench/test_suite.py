"""`sonar bench suite` on CI-sized inputs: two small synthetic tables, two seeds; a rerun resumes."""

import json

import pytest
from typer.testing import CliRunner

from sonar.bench.suite import SuiteSettings, plan_cells, read_work, run_suite, scoreboard
from sonar.bench.synthetic import synthetic_table
from sonar.bench.table import write_table
from sonar.cli.app import app
from sonar.cli.bench_suite import LOG_STEPS

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
    (tmp_path / "suite.json.tmp").write_text("a user's file")  # the name a fixed staging file once took
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
    logged = [line for line in result.output.splitlines() if " cells: " in line]  # not a terminal: a log
    assert 2 <= len(logged) <= LOG_STEPS + 1 and f" {cells}/{cells} cells: " in logged[-1], result.output

    with open(work, "a") as f:
        f.write('{"table": "torn')  # an interrupted append
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    lines = work.read_text().splitlines()
    assert len(lines) == cells + 1  # nothing reran; the torn line stays, ended, and is ignored
    assert json.loads(out.read_text())["methods"] == board["methods"]
    assert (tmp_path / "suite.json.tmp").read_text() == "a user's file"


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


PARETO_METHODS = ("sonar", "random_feasible")


def test_a_pareto_suite_runs_one_cell_per_table_and_scores_the_hypervolume_gap(tables, tmp_path):
    from sonar.bench.suite import suite_result

    settings = SuiteSettings(tables=(tables / "syn-11.jsonl", tables / "syn-12.jsonl"), seeds=2,
                             methods=PARETO_METHODS, jobs=1, mode="pareto")
    rows = run_suite(settings, tmp_path / "p.work.jsonl")
    assert len(rows) == 2 * 2 * len(PARETO_METHODS) * 2  # tables x rules x methods x seeds: no bound
    assert {(r["mode"], r["quantile"]) for r in rows} == {("pareto", None)}
    assert all("speedup_top3" not in r and 0 <= r["anytime_area"] <= 1 for r in rows)  # nothing is ranked
    result = suite_result(settings, rows)
    assert result["settings"]["mode"] == "pareto" and result["settings"]["quantiles"] is None
    for rule in ("completed", "checkpoint"):
        sonar = result["methods"][rule]["sonar"]
        assert sonar["cells"] == 2 and sonar["seeds"] == 4
        assert {"speedup_1pct", "speedup_gap10", "failures_speedup_1pct"} <= set(sonar)
        assert "speedup_top3" not in sonar


def test_constraint_and_pareto_rows_share_a_work_file_without_colliding(tables, tmp_path):
    work = tmp_path / "both.work.jsonl"
    common = dict(tables=(tables / "syn-11.jsonl",), seeds=1, rules=("completed",), methods=("random_feasible",),
                  jobs=1)
    constraint = SuiteSettings(**common, quantiles=(0.5,))
    pareto = SuiteSettings(**common, mode="pareto")
    assert len(run_suite(constraint, work)) == 1
    seen = []
    rows = run_suite(pareto, work, progress=lambda done, total, text: seen.append(done))
    assert seen[0] == 0 and rows[0]["mode"] == "pareto"  # the constraint row did not stand in for it
    assert len(read_work(work)) == 2
    for settings in (constraint, pareto):
        again: list[tuple[int, int]] = []
        run_suite(settings, work, progress=lambda done, total, text, seen=again: seen.append((done, total)))
        assert again == [(1, 1)]  # each mode resumes its own row, nothing reruns
    with pytest.raises(ValueError, match="one mode"):
        scoreboard(list(read_work(work).values()))


def test_a_row_written_before_the_mode_existed_resumes_as_a_constraint_row(tables, tmp_path):
    settings = SuiteSettings(tables=(tables / "syn-11.jsonl",), seeds=1, quantiles=(0.5,), rules=("completed",),
                             methods=("random_feasible",), jobs=1)
    work = tmp_path / "old.work.jsonl"
    row = run_suite(settings, work)[0]
    work.write_text(json.dumps({k: v for k, v in row.items() if k != "mode"}) + "\n")
    assert set(read_work(work)) == {c.key for c in plan_cells(settings)}


def test_pareto_mode_refuses_a_bound_and_the_methods_that_cannot_run_it(tables, tmp_path):
    from sonar.errors import UserError

    result = CliRunner().invoke(app, ["bench", "suite", str(tables), "--mode", "pareto", "--quantiles", "0.5",
                                      "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 2 and "Pareto mode has no latency bound" in result.output
    with pytest.raises(UserError, match="hyperband_joint.*not available in pareto mode"):
        plan_cells(SuiteSettings(tables=(tables / "syn-11.jsonl",), methods=("hyperband_joint",), mode="pareto"))
    with pytest.raises(UserError, match="mode 'both'"):
        SuiteSettings(tables=(tables,), mode="both")


@pytest.mark.parametrize("text", ['{"name": "a spec"}\n', "# notes\nnot json at all\n"])
def test_a_work_file_that_is_not_one_is_refused_rather_than_appended_to(tmp_path, text):
    from sonar.bench.suite import read_work
    from sonar.errors import UserError

    work = tmp_path / "work.jsonl"
    work.write_text(text)
    with pytest.raises(UserError, match="not a work file"):
        read_work(work)
    assert work.read_text() == text
    work.write_text('{"table": "to')  # only a torn first append: a fresh start, not a refusal
    assert read_work(work) == {}


def test_rows_of_a_changed_table_are_rerun_not_reused(tmp_path):
    t = synthetic_table(candidates=12, max_steps=64, max_trials=8, seed=21)
    table = tmp_path / "grows.jsonl"
    write_table(table, t.header, t.candidates[:10])
    settings = SuiteSettings(tables=(table,), seeds=2, quantiles=(0.5,), rules=("completed",),
                             methods=("random_feasible",), jobs=1)
    work = tmp_path / "w.work.jsonl"
    before = run_suite(settings, work)

    def resumed():
        seen = []
        rows = run_suite(settings, work, progress=lambda done, total, text: seen.append((done, text)))
        return rows, seen

    rows, seen = resumed()
    assert seen == [(2, "resumed")] and rows == before  # unchanged: nothing reruns
    write_table(table, t.header, t.candidates)  # the table grows, as `bench build --resume` grows one
    rows, seen = resumed()
    assert seen[0] == (0, "starting; 2 rows of changed tables rerun") and len(seen) == 3
    assert {r["table_digest"] for r in rows} != {r["table_digest"] for r in before}
    # a row written before rows recorded their table is trusted only where the brute-force cost agrees
    legacy = [{k: v for k, v in r.items() if k != "table_digest"} for r in rows]
    work.write_text("".join(json.dumps(r) + "\n" for r in legacy))
    assert resumed()[1] == [(2, "resumed")]
    legacy[0]["brute_force_s"] += 1.0
    work.write_text("".join(json.dumps(r) + "\n" for r in legacy))
    assert resumed()[1][0] == (1, "resumed; 1 rows of changed tables rerun")


def test_rows_of_changed_method_code_are_rerun_not_reused(tables, tmp_path):
    """A row records the digest of its method's code; a row from other code, or from before rows recorded
    one, is rerun, so a work file kept across a policy change never mixes in the old policy's results."""
    settings = SuiteSettings(tables=(tables / "syn-11.jsonl",), seeds=1, quantiles=(0.5,), rules=("completed",),
                             methods=("random_feasible", "sonar"), jobs=1)
    work = tmp_path / "code.work.jsonl"
    before = run_suite(settings, work)
    assert len({r["code_digest"] for r in before}) == 2  # SONAR's replays run code the baseline's do not

    def resumed():
        seen = []
        run_suite(settings, work, progress=lambda done, total, text: seen.append((done, text)))
        return seen

    assert resumed() == [(2, "resumed")]
    rows = [json.loads(line) for line in work.read_text().splitlines()]
    sonar_row = next(r for r in rows if r["method"] == "sonar")
    work.write_text(json.dumps(sonar_row | {"code_digest": "0" * 64}) + "\n"
                    + json.dumps({k: v for k, v in rows[0].items() if k != "code_digest"}) + "\n")
    seen = resumed()
    assert seen[0] == (0, "starting; 2 rows of changed method code rerun") and seen[-1][0] == 2
