import json

import pytest
import yaml
from search_support import file_tree, make_spec
from typer.testing import CliRunner

from sonar.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    config = root / "spec.yaml"
    config.write_text(yaml.safe_dump(make_spec(executor={"kind": "inprocess", "workers": 1},
                                               budget={"candidates": 9, "max_steps": 90, "max_trials": 9})))
    result = runner.invoke(app, ["search", str(config), "--out", str(root / "run"), "--no-live"])
    assert result.exit_code == 0, result.output
    assert "winner" in result.output
    return root


def test_status_json_keys(finished_run):
    result = runner.invoke(app, ["status", str(finished_run / "run"), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert {"state", "best", "pareto", "jobs_done", "jobs_failed"} <= set(info)
    assert info["state"] == "finished" and info["jobs_done"] > 0 and info["best"]["id"].startswith("c")


def test_status_claims_no_time_it_cannot_know(finished_run):
    # status draws a stored run once: a clock started by the view itself read "elapsed 0 s  ETA ~0 s"
    # for every run, finished or cut off mid-way
    result = runner.invoke(app, ["status", str(finished_run / "run")])
    assert result.exit_code == 0, result.output
    assert "jobs" in result.output and "best so far" in result.output
    assert "elapsed" not in result.output and "ETA" not in result.output


def test_status_of_a_cut_off_run_calls_its_jobs_in_flight_cut_off_not_running(tmp_path):
    from search_support import CrashAfter

    from sonar.search.engine import run_search, start_search

    start_search(make_spec(executor={"workers": 1}), tmp_path).close()
    with pytest.raises(KeyboardInterrupt):
        run_search(tmp_path, CrashAfter(1, 5))
    result = runner.invoke(app, ["status", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 cut off" in result.output and "running" not in result.output
    assert "state: interrupted" in result.output


def test_report_writes_html_and_figures(finished_run):
    result = runner.invoke(app, ["report", str(finished_run / "run")])
    assert result.exit_code == 0, result.output
    report = finished_run / "run" / "report"
    for name in ("index.html", "pareto.png", "curves.png", "budget.png"):
        assert (report / name).stat().st_size > 1000, name
    html = (report / "index.html").read_text()
    assert "pareto.png" in html and "c000" in html


def test_export_writes_checkpoint_and_system_config(finished_run):
    out = finished_run / "export"
    result = runner.invoke(app, ["export", str(finished_run / "run"), "--best", "--to", str(out)])
    assert result.exit_code == 0, result.output
    system = json.loads((out / "system_config.json").read_text())
    assert system["system"] and system["latency_s"] > 0
    assert (out / "model" / "config.json").is_file() and any((out / "model").glob("*.safetensors"))
    from sonar.checkpoint import load_pretrained

    status = json.loads(runner.invoke(app, ["status", str(finished_run / "run"), "--json"]).output)
    assert load_pretrained(out / "model").config.hidden_size == status["best"]["model"]["hidden_size"]


def test_resume_of_a_finished_search_changes_nothing(finished_run):
    before = json.loads(runner.invoke(app, ["status", str(finished_run / "run"), "--json"]).output)
    result = runner.invoke(app, ["search", "--resume", str(finished_run / "run"), "--no-live"])
    assert result.exit_code == 0, result.output
    after = json.loads(runner.invoke(app, ["status", str(finished_run / "run"), "--json"]).output)
    assert after == before


@pytest.mark.parametrize("kind", ["ray", "pool"])
def test_resume_of_a_finished_search_starts_no_executor(finished_run, monkeypatch, kind):
    # A Ray cluster or a process pool takes seconds to start; a finished run has no job to give it.
    def refuse(*args, **kwargs):
        raise AssertionError("an executor was started for a finished run")

    monkeypatch.setattr("sonar.cli.search.make_executor", refuse)
    result = runner.invoke(app, ["search", "--resume", str(finished_run / "run"), "--no-live", "--executor", kind])
    assert result.exit_code == 0, result.output
    assert "winner" in result.output


def test_resume_refuses_an_unknown_executor(finished_run):
    result = runner.invoke(app, ["search", "--resume", str(finished_run / "run"), "--no-live", "--executor", "gpu"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --executor 'gpu': must be one of inprocess, pool, ray, simulated")


def test_bad_spec_fails_before_creating_the_run(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(make_spec(arch={"hidden_size": [32, 64, "big"]})))
    result = runner.invoke(app, ["search", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: arch.hidden_size.choices[2]:")
    assert not (tmp_path / "run").exists()


def test_real_backend_missing_is_a_clear_error(tmp_path):
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump(make_spec(backend="real")))
    try:
        import sonar.systems.tuner  # noqa: F401
        import sonar.train.trainer  # noqa: F401
        pytest.skip("the real backends are installed")
    except ModuleNotFoundError:
        pass
    result = runner.invoke(app, ["search", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--backend synthetic" in result.stderr


def _one_error_line(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("command", ["status", "report", "resume"])
@pytest.mark.parametrize("content", [b"", b"\x93NUMPY random bytes, not a database" * 200])
def test_a_corrupt_database_is_one_error_line_naming_the_file(tmp_path, command, content):
    (tmp_path / "search.db").write_bytes(content)
    args = {"status": ["status", str(tmp_path)], "report": ["report", str(tmp_path)],
            "resume": ["search", "--resume", str(tmp_path), "--no-live"]}[command]
    _one_error_line(runner.invoke(app, args), str(tmp_path / "search.db"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["search.db"]  # nothing created beside it


def test_a_bad_json_row_is_one_error_line_for_status_and_resume(finished_run, tmp_path):
    import shutil
    import sqlite3

    shutil.copyfile(finished_run / "run" / "search.db", tmp_path / "search.db")
    with sqlite3.connect(tmp_path / "search.db") as db:
        db.execute("UPDATE events SET payload = '{\"job_id\": ' WHERE seq = 5")
    _one_error_line(runner.invoke(app, ["status", str(tmp_path)]), str(tmp_path / "search.db"), "event 5")
    _one_error_line(runner.invoke(app, ["search", "--resume", str(tmp_path), "--no-live"]), "event 5")


def test_an_edited_spec_is_refused_by_resume_unless_allowed(finished_run, tmp_path):
    import shutil
    import sqlite3

    shutil.copyfile(finished_run / "run" / "search.db", tmp_path / "search.db")
    with sqlite3.connect(tmp_path / "search.db") as db:
        raw = json.loads(db.execute("SELECT payload FROM events WHERE seq = 1").fetchone()[0])
        raw["spec"]["seed"] = 7
        db.execute("UPDATE events SET payload = ? WHERE seq = 1", (json.dumps(raw),))
    refused = runner.invoke(app, ["search", "--resume", str(tmp_path), "--no-live"])
    assert refused.exit_code == 2 and "--allow-spec-change" in refused.stderr and "+seed: 7" in refused.stderr
    allowed = runner.invoke(app, ["search", "--resume", str(tmp_path), "--no-live", "--allow-spec-change"])
    assert allowed.exit_code == 0, allowed.output


def test_a_search_where_every_job_failed_exits_1_naming_the_commonest_failure(tmp_path, monkeypatch):
    from sonar.search.executors import base
    from sonar.search.records import Outcome

    monkeypatch.setattr(base, "execute", lambda payload: Outcome(job_id=payload.job.id,
                                                                 failure="error: FileNotFoundError: corpus.txt"))
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump(make_spec(executor={"kind": "inprocess", "workers": 1},
                                               budget={"candidates": 3})))
    result = runner.invoke(app, ["search", str(config), "--out", str(tmp_path / "run"), "--no-live"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "jobs failed" in lines[0], result.stderr
    assert "error: FileNotFoundError: corpus.txt" in lines[0] and "winner" not in result.output


def test_status_reads_the_engine_lock_for_running(tmp_path):
    from sonar.search.engine import start_search
    from sonar.search.run_lock import EngineLock

    start_search(make_spec(), tmp_path).close()
    with EngineLock.acquire(tmp_path):
        held = json.loads(runner.invoke(app, ["status", str(tmp_path), "--json"]).output)
    free = json.loads(runner.invoke(app, ["status", str(tmp_path), "--json"]).output)
    assert (held["state"], free["state"]) == ("running", "created")


def test_status_and_report_elsewhere_change_no_file_in_the_run(finished_run, tmp_path):
    before = file_tree(finished_run / "run")
    assert runner.invoke(app, ["status", str(finished_run / "run")]).exit_code == 0
    result = runner.invoke(app, ["report", str(finished_run / "run"), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "index.html").is_file()
    assert file_tree(finished_run / "run") == before


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize("where", ["training", "target"])
def test_a_real_search_on_an_absent_gpu_fails_before_creating_the_run(tmp_path, where):
    spec = make_spec(backend="real")
    if where == "training":
        spec["training"] = {"device": "cuda"}
    else:
        spec["targets"] = [{"name": "server", "device": "cuda"}]
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump(spec))
    result = runner.invoke(app, ["search", str(config), "--out", str(tmp_path / "run")])
    _one_error_line(result, "no CUDA device")
    assert ("training.device: " in result.output) == (where == "training")  # the spec key at fault
    assert not (tmp_path / "run").exists()


def test_a_run_directory_that_cannot_be_made_is_one_error_line(tmp_path):
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump(make_spec()))
    result = runner.invoke(app, ["search", str(config), "--out", "/proc/sonar-no-such/run"])
    _one_error_line(result, "cannot create the run directory")


def test_the_eta_after_a_resume_counts_only_the_jobs_this_process_ran():
    from sonar.cli.search import _eta

    # 40 of an expected 100 jobs were done before the resume, 10 more in the 60 s since: 50 left at 6 s a job.
    # Dividing all 50 done by this process's 60 s read 60 s, a fifth of the 300 s left.
    assert _eta(60.0, 10, 50) == 300.0
    assert _eta(60.0, 0, 50) == 0.0  # no job run yet: no rate to go by
    assert _eta(60.0, 10, -3) == 0.0  # more jobs than the rough expectation: nothing to promise


def test_the_live_view_takes_its_rate_from_the_jobs_done_since_it_started(monkeypatch):
    import types

    from rich.console import Console

    import sonar.cli.search as cli_search

    spec = types.SimpleNamespace(name="s", scheduler="sonar", objective=types.SimpleNamespace(kind="constraint",
                                 long_context=None), targets=[object()], budget=types.SimpleNamespace(candidates=9),
                                 eta=3)
    expected = cli_search._expected_jobs(spec)  # (1 + 1 target) * (9 + 3 + 1) = 26 jobs
    done = {"n": 20}
    monkeypatch.setattr(cli_search, "summary", lambda state: {
        "jobs_done": done["n"], "jobs_failed": 0, "jobs_running": 1, "spent_s": 1.0, "best": None,
        "per_target": []})
    monkeypatch.setattr(cli_search, "measured", lambda state: [])
    clock = {"t": 1000.0}
    monkeypatch.setattr(cli_search.time, "time", lambda: clock["t"])
    view = cli_search._LiveView(Console(), spec)
    state = types.SimpleNamespace(finished=False)
    view(state)  # a resumed run: 20 jobs were done before this process started
    clock["t"], done["n"] = 1030.0, 23  # 3 jobs in 30 s
    console = Console(record=True, width=200)
    console.print(view(state))
    assert f"ETA ~{30 * (expected - 23) / 3:.0f} s" in console.export_text()
