import json

import pytest
from typer.testing import CliRunner

from sonar.checkpoint import load_pretrained
from sonar.cli import app
from word_corpus import write_word_corpus


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("SONAR_CACHE", str(tmp_path / "cache"))
    return write_word_corpus(tmp_path / "corpus")


def _train(corpus, out, *extra):
    args = ["train", "--preset", "debug", "--corpus", str(corpus), "--vocab", "300", "--out", str(out), *extra]
    return CliRunner().invoke(app, args)


def test_train_writes_checkpoint_curve_and_png_then_resumes(tmp_path, corpus):
    out = tmp_path / "run"
    result = _train(corpus, out, "--steps", "4")
    assert result.exit_code == 0, result.output
    assert "unigram entropy" in result.output
    curve = json.loads((out / "curve.json").read_text())
    assert [p["step"] for p in curve["curve"]] == [1, 2, 3, 4]
    assert curve["cost"]["tokens"] == 4 * 8 * 64
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_pretrained(out / "model").config.vocab_size == 300

    again = _train(corpus, out, "--steps", "6")
    assert again.exit_code == 2 and "--resume" in again.stderr

    resumed = _train(corpus, out, "--steps", "6", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "curve.json").read_text())["curve"][-1]["step"] == 6


def test_bench_train_json_reports_mfu(tmp_path, monkeypatch):
    monkeypatch.setenv("SONAR_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["bench", "train", "--presets", "debug", "--steps", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["matmul_peak_flops_per_s"] > 0
    (row,) = report["results"]
    assert row["preset"] == "debug" and row["tokens_per_s"] > 0 and 0 < row["mfu"]
    assert report["device"] == "cpu" and row["device"] == "cpu"
