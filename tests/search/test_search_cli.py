import json

import pytest
import yaml
from typer.testing import CliRunner

from conftest import make_spec
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
