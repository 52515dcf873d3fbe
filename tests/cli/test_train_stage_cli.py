"""`sonar train --resume --seq-len N`: a mid-training stage at another length, recorded in the curve."""

import json

from test_train_cli import corpus  # noqa: F401,F811  the same small random-word corpus (a fixture)
from typer.testing import CliRunner

from sonar.cli import app


def _train(out, *extra):
    return CliRunner().invoke(app, ["train", "--out", str(out), "--threads", "1", *extra])


def test_resume_at_a_longer_length_is_a_new_stage_marked_in_the_curve(tmp_path, corpus):  # noqa: F811
    out = tmp_path / "run"
    first = _train(out, "--preset", "debug", "--corpus", str(corpus), "--vocab", "300", "--steps", "3")
    assert first.exit_code == 0, first.output
    refused = _train(out, "--resume", "--seq-len", "128")
    assert refused.exit_code == 2 and "starts a new stage at step 3: pass --steps" in refused.output
    staged = _train(out, "--resume", "--seq-len", "128", "--steps", "5")
    assert staged.exit_code == 0, staged.output
    curve = json.loads((out / "curve.json").read_text())
    # debug trains 8 rows of 64 tokens; the stage keeps 512 tokens per step as 4 rows of 128.
    assert curve["stage_boundaries"] == [{"step": 3, "tokens": 3 * 512, "seq_len": 128, "batch_size": 4}]
    assert curve["cost"]["tokens"] == 5 * 512
    again = _train(out, "--resume", "--seq-len", "128", "--steps", "6")  # the same length: the same stage goes on
    assert again.exit_code == 0, again.output
    settings = json.loads((out / "train_config.json").read_text())
    assert [s["start_step"] for s in settings["stages"]] == [3]
    assert json.loads((out / "curve.json").read_text())["curve"][-1]["step"] == 6
