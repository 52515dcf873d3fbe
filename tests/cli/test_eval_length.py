"""`sonar eval length` end to end on a saved debug model (byte tokenizer) and a small corpus."""

import json
import random

import pytest
from typer.testing import CliRunner

from sonar.checkpoint import save_pretrained
from sonar.cli import app
from sonar.model import build_model, preset

WORDS = "the king queen lord lady love death night day sword crown heart blood fair sweet".split()


@pytest.fixture
def run_dir(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = random.Random(1)
    for i in range(10):
        (corpus / f"d{i}.txt").write_text(" ".join(rng.choice(WORDS) for _ in range(120)))
    run = tmp_path / "run"
    config = preset("debug").replace(vocab_size=257, attention_chunk_size=8, floor_scale=8)
    save_pretrained(build_model(config, seed=1), run / "model")
    (run / "train_config.json").write_text(json.dumps({"seq_len": 16, "data": {"corpus": str(corpus)}}))
    return run


def test_eval_length_writes_json_and_png_for_every_setting(run_dir):
    result = CliRunner().invoke(app, ["eval", "length", str(run_dir), "--multiples", "1,4", "--windows", "2",
                                      "--cache-block", "3", "--depths", "0.5"])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "length" / "length.json").read_text())
    assert [s["name"] for s in report["settings"]] == ["temp on, full", "temp on, cached", "temp off, full",
                                                       "temp off, cached"]
    on_full = report["settings"][0]["lengths"]
    assert len(on_full["4"]["bucket_loss"]) == 4 and on_full["1"]["windows"] == 2
    # Four times the training length crosses the chunk 8 times: the ring cache must still equal the forward.
    assert report["settings"][1]["max_abs_diff_vs_full"] < 1e-4
    # With floor_scale 8 the switch changes the loss beyond position 8.
    assert on_full["4"]["mean_loss"] != report["settings"][2]["lengths"]["4"]["mean_loss"]
    assert set(report["passkey"]["temp on, full"]["4"]) == {"0.5"}
    assert (run_dir / "length" / "length.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_length_on_a_corpus_too_short_is_one_error_line(run_dir):
    result = CliRunner().invoke(app, ["eval", "length", str(run_dir), "--multiples", "1,512"])
    assert result.exit_code == 2
    assert "error:" in result.output and "fewer than length+1=8,193" in result.output


def test_eval_length_refuses_a_depth_outside_the_window_before_measuring(run_dir):
    result = CliRunner().invoke(app, ["eval", "length", str(run_dir), "--depths", "0.5,1.5"])
    assert result.exit_code == 2 and "--depths '0.5,1.5': give passkey depths in [0, 1]" in result.output
    assert not (run_dir / "length").exists()
