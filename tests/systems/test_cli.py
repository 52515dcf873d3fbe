"""`sonar tune` end to end on the debug preset (eager only: no compile in fast tests)."""

import json

from typer.testing import CliRunner

from sonar.cli import app


def test_tune_writes_the_curve(tmp_path):
    out = tmp_path / "curve.json"
    result = CliRunner().invoke(app, [
        "tune", "--preset", "debug", "--workload", "decode:ctx=16", "--trials", "3", "--compile", "eager",
        "--workdir", str(tmp_path / "w"), "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    curve = json.loads(out.read_text())["curve"]
    assert [p["trial"] for p in curve] == [1, 2, 3]
    assert "best:" in result.output
    assert "debug: random weights" in result.output  # quantized formats are judged on noise there


def test_tune_needs_exactly_one_model_source(tmp_path):
    result = CliRunner().invoke(app, ["tune", "--trials", "1", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "exactly one of" in result.stderr


def test_tune_rejects_a_bad_workload(tmp_path):
    result = CliRunner().invoke(app, ["tune", "--preset", "debug", "--workload", "decode:ctx=x",
                                      "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "ctx='x'" in result.stderr


def test_tune_reads_a_checkpoint(tmp_path):
    from sonar.checkpoint import save_pretrained
    from sonar.model import build_model, preset

    save_pretrained(build_model(preset("debug"), seed=3), tmp_path / "ckpt")
    out = tmp_path / "curve.json"
    result = CliRunner().invoke(app, [
        "tune", "--checkpoint", str(tmp_path / "ckpt"), "--workload", "prefill:b=1,t=16", "--trials", "2",
        "--compile", "eager", "--workdir", str(tmp_path / "w"), "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["candidate"] == "ckpt"


def test_bench_tune_names_an_unknown_architecture(tmp_path):
    result = CliRunner().invoke(app, ["bench", "tune", "--archs", "tiny,huge", "--workdir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--archs 'tiny,huge': unknown architecture huge; choose from tiny, small" in result.stderr
    assert not any(tmp_path.iterdir())  # refused before anything ran
