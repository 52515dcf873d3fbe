"""`sonar posttrain sft|rl|dpo|distill` and `sonar eval tasks` end to end on a fresh debug model, a few steps each."""

import json

import pytest
from typer.testing import CliRunner

from sonar.cli import app

runner = CliRunner()


def _ok(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_stages_chain_and_rl_resumes(tmp_path):
    sft, rl, dpo = tmp_path / "sft", tmp_path / "rl", tmp_path / "dpo"
    out = _ok(["posttrain", "sft", "--preset", "debug", "--out", str(sft), "--steps", "3", "--per-cell", "4",
               "--prune", "loss", "--threads", "1"])
    assert "pruned 50.0% of 40 examples" in out
    assert json.loads((sft / "sft.json").read_text())["kept"] == 20
    rl_args = ["posttrain", "rl", "--from", str(sft / "model"), "--out", str(rl), "--prompts-per-step", "2",
               "--group-size", "2", "--save-every", "1", "--threads", "1"]
    _ok([*rl_args, "--steps", "1"])
    _ok([*rl_args, "--steps", "2", "--resume"])
    assert [p["step"] for p in json.loads((rl / "curve.json").read_text())["curve"]] == [1, 2]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"prompt": "2+2=", "chosen": "4", "rejected": "5"}\n')
    _ok(["posttrain", "dpo", "--from", str(rl / "model"), "--out", str(dpo), "--pairs", str(pairs), "--steps", "2",
         "--threads", "1"])
    report = json.loads(_ok(["eval", "tasks", str(dpo / "model"), "--tasks", "sort", "--levels", "1",
                             "--per-cell", "2", "--json", "--threads", "1"]))
    assert report["cells"][0]["task"] == "sort" and report["cells"][0]["n"] == 2
    _ok(["posttrain", "distill", "--teacher", str(dpo / "model"), "--preset", "debug", "--out",
         str(tmp_path / "student"), "--steps", "2", "--per-cell", "2", "--threads", "1"])
    assert len(json.loads((tmp_path / "student" / "distill.json").read_text())["losses"]) == 2


@pytest.mark.parametrize("args, message", [
    (["posttrain", "rl", "--out", "OUT"], "--from CHECKPOINT is required"),
    (["posttrain", "sft", "--out", "OUT"], "name exactly one starting point"),
    (["posttrain", "sft", "--preset", "debug", "--tasks", "chess", "--out", "OUT"], "--tasks 'chess': unknown"),
    (["posttrain", "sft", "--preset", "debug", "--levels", "one", "--out", "OUT"], "--levels 'one'"),
    (["posttrain", "dpo", "--from", "OUT", "--beta", "0", "--out", "OUT"], "--beta 0"),
    (["posttrain", "dpo", "--from", "OUT", "--settings", "pair_prompts=all", "--out", "OUT"], "pair_prompts='all'"),
    (["eval", "tasks", "NOWHERE"], "no such checkpoint directory"),
    (["posttrain", "distill", "--teacher", "NOWHERE", "--preset", "debug", "--out", "OUT"],
     "--teacher NOWHERE: no such checkpoint directory"),
    (["posttrain", "tune", "--preset", "debug", "--rl-lrs", "fast", "--out", "OUT"], "--rl-lrs 'fast'"),
    (["posttrain", "tune", "--preset", "debug", "--dpo-candidates", "nll_weight=-1", "--out", "OUT"], "nll_weight=-1"),
])
def test_bad_inputs_are_one_error_line(tmp_path, args, message):
    args = [a.replace("OUT", str(tmp_path / "out")).replace("NOWHERE", str(tmp_path / "none")) for a in args]
    message = message.replace("NOWHERE", str(tmp_path / "none"))
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output


def test_bad_jsonl_line_is_named(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a"}\n')
    result = runner.invoke(app, ["posttrain", "sft", "--preset", "debug", "--data", str(data), "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 2 and "line 2: missing ['response']" in result.output


@pytest.mark.parametrize("command", [
    ["posttrain", "sft", "--from", "CKPT", "--out", "OUT", "--steps", "1"],
    ["posttrain", "rl", "--from", "CKPT", "--out", "OUT", "--steps", "1"],
    ["eval", "tasks", "CKPT"],
])
def test_a_checkpoint_trained_on_bpe_is_refused_for_the_byte_chat_template(tmp_path, command):
    # Its vocabulary is large enough, so it ran, and every chat prompt reached it as ids of other text.
    from sonar.checkpoint import save_pretrained
    from sonar.data.tokenizer import train_bpe
    from sonar.model import build_model, preset

    ckpt = tmp_path / "run" / "model"
    save_pretrained(build_model(preset("debug").replace(vocab_size=280), seed=0), ckpt)
    train_bpe(["the chat template speaks bytes " * 50], vocab_size=280).save(ckpt / "tokenizer.json")
    args = [a.replace("CKPT", str(ckpt)).replace("OUT", str(tmp_path / "out")) for a in command]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "trained on a BPE tokenizer" in result.output and "--tokenizer byte" in result.output
    assert not (tmp_path / "out").exists()
