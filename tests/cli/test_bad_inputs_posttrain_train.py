"""Bad input to `sonar posttrain`, `sonar train` and `sonar eval tasks|length` found by a probe sweep: outputs
that replaced another command's run or the input itself, NaN models written with exit 0, settings given
twice, corpora that swept the disk (the contract each case meets: bad_input_cases.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from bad_input_cases import api, check_case, cli, overridden, params
from bad_input_sandbox import Sandbox
from typer.testing import CliRunner

from sonar.checkpoint import load_pretrained
from sonar.cli import app
from sonar.data.corpus import load_corpus
from sonar.data.corpus_check import check_corpus
from sonar.outdir import writing
from sonar.posttrain.distill import DistillConfig, run_distill
from sonar.posttrain.dpo import DPOConfig, PairIds, run_dpo
from sonar.posttrain.rl import RLConfig
from sonar.posttrain.run_dir import run_kind, start_rl_run
from sonar.posttrain.sft import SFTConfig, run_sft

BIG = "99999999999999999999999"
SFT = ("--steps", "1", "--per-cell", "2", "--threads", "1")


# -- helpers ----------------------------------------------------------------------------------------------


def _user_dir(sb: Sandbox, name: str = "mine", sub: str = "model") -> str:
    sb.file(f"{name}/thesis.tex", "years of work\n")
    sb.file(f"{name}/{sub}/notes.txt", "mine too\n")
    return name


def _train(run: str, *extra: str) -> list[str]:
    return overridden(["train", "--preset", "debug", "--out", run, "--vocab", "300", "--threads", "1"], *extra)


def _corpus_flag(sb: Sandbox) -> str:
    return str(sb.root / sb.corpus())


def _stage_output(sb: Sandbox, name: str = "ps1", stage: str = "sft") -> str:
    """A finished `sonar posttrain <stage>` output, as the command writes it: OUT/model and OUT/<stage>.json."""
    with writing(sb.root / name, kind=run_kind(stage)) as staging:
        shutil.copytree(sb.artefacts.checkpoint, staging / "model")
        (staging / f"{stage}.json").write_text(json.dumps({"losses": [1.0]}))
    return name


def _ckpt(sb: Sandbox) -> str:
    """The sandbox's checkpoint `ckpt`, copied in once."""
    return "ckpt" if (sb.root / "ckpt").is_dir() else sb.checkpoint()


def _rl_run(sb: Sandbox, name: str = "rlrun") -> str:
    """An RL run started from the sandbox's checkpoint `ckpt`."""
    start_rl_run(sb.root / name, str(sb.root / _ckpt(sb)))
    return name


def _with_user_file(sb: Sandbox, out: str) -> str:
    sb.file(f"{out}/thesis.tex", "mine\n")
    return out


def _export(sb: Sandbox, name: str = "exported") -> str:
    from sonar.search.export import export_best

    export_best(sb.root / sb.run(), sb.root / name)
    return name


def _nan_checkpoint(sb: Sandbox, name: str = "nanckpt") -> str:
    """A checkpoint whose weights are NaN, written past save_pretrained (which refuses them): a file damaged on disk
    or written by another tool."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    shutil.copytree(sb.artefacts.checkpoint, sb.root / name)
    for path in (sb.root / name).glob("*.safetensors"):
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
            tensors = {key: torch.full_like(f.get_tensor(key), float("nan")) for key in f.keys()}
        save_file(tensors, str(path), metadata=metadata)
    return name


def _stateless_train_run(sb: Sandbox) -> str:
    run = sb.train_run()
    shutil.rmtree(sb.root / run / "state")
    return run


def _fifo(sb: Sandbox) -> str:
    os.mkfifo(sb.root / "fifo.txt")
    return "fifo.txt"


def _sft(out: str, *extra: str) -> list[str]:
    return ["posttrain", "sft", "--preset", "debug", *SFT, "--out", out, *extra]


def _rl(sb: Sandbox, out: str, *extra: str, start: str | None = None) -> list[str]:
    return ["posttrain", "rl", "--from", start or _ckpt(sb), "--steps", "1", "--prompts-per-step", "1",
            "--group-size", "2", "--threads", "1", "--out", out, *extra]


def _dpo(sb: Sandbox, out: str, *extra: str) -> list[str]:
    return ["posttrain", "dpo", "--from", _ckpt(sb), "--per-cell", "1", "--threads", "1", "--out", out, *extra]


def _distill(sb: Sandbox, out: str, *extra: str) -> list[str]:
    return ["posttrain", "distill", "--teacher", _ckpt(sb), "--preset", "debug", *SFT, "--out", out, *extra]


# -- the table ---------------------------------------------------------------------------------------------

OUTPUTS = [  # 1: posttrain's --out recognised precisely, the input never replaced
    cli("posttrain-sft-out-train-run", lambda sb: _sft(sb.train_run()),
        r"--out trained: is not empty and holds no sonar posttrain sft output"),
    cli("posttrain-rl-out-train-run", lambda sb: _rl(sb, sb.train_run()),
        r"--out trained: is not empty and holds no sonar posttrain rl output"),
    cli("posttrain-sft-out-export", lambda sb: _sft(_export(sb)), r"--out exported:.*holds a sonar export"),
    cli("posttrain-sft-out-user-dir-with-model", lambda sb: _sft(_user_dir(sb)), r"--out mine: is not empty"),
    cli("posttrain-dpo-out-user-dir-with-state", lambda sb: _dpo(sb, _user_dir(sb, sub="state"), "--steps", "1"),
        r"--out mine: is not empty"),
    cli("posttrain-rl-out-user-dir-with-state", lambda sb: _rl(sb, _user_dir(sb, sub="state")),
        r"--out mine: is not empty"),
    cli("posttrain-all-out-user-dir-with-model", lambda sb: ["posttrain", "all", "--preset", "debug", "--out",
                                                             _user_dir(sb)], r"--out mine: is not empty"),
    cli("posttrain-sft-out-is-own-input", lambda sb: [
        "posttrain", "sft", "--from", f"{_stage_output(sb, 'ps0')}/model", *SFT, "--out", "ps0", "--overwrite"],
        r"--out ps0: overlaps --from ps0/model"),
    cli("posttrain-distill-out-is-own-input", lambda sb: [
        "posttrain", "distill", "--teacher", f"{_stage_output(sb)}/model", "--from", "ps1/model", *SFT, "--out",
        "ps1"], r"--out ps1: overlaps --teacher ps1/model"),
    cli("posttrain-rl-out-inside-input", lambda sb: _rl(sb, "ckpt/rl"), r"--out ckpt/rl: overlaps --from ckpt"),
    cli("posttrain-sft-again-without-overwrite", lambda sb: _sft(_stage_output(sb)),
        r"--out ps1: already holds the result of an earlier `sonar posttrain sft`; pass --overwrite"),
    cli("posttrain-dpo-into-sft-output", lambda sb: _dpo(sb, _stage_output(sb), "--steps", "1", "--overwrite"),
        r"--out ps1: is not empty and holds no sonar posttrain dpo output \(it holds a sonar posttrain-sft\)"),
    cli("posttrain-rl-into-sft-output", lambda sb: _rl(sb, _stage_output(sb)),
        r"holds no sonar posttrain rl output"),
    cli("posttrain-sft-overwrite-beside-user-file", lambda sb: _sft(_with_user_file(sb, _stage_output(sb)),
                                                                    "--overwrite"),
        r"--out ps1: holds 1 file\(s\) sonar did not write \(e\.g\. thesis\.tex\)"),
    cli("posttrain-all-again", lambda sb: ["posttrain", "all", "--preset", "debug", "--out",
                                           _stage_output(sb, "runall", "all")],
        r"--out runall: already holds a sonar posttrain all run"),
    cli("posttrain-rl-again-without-resume", lambda sb: _rl(sb, _rl_run(sb)),
        r"--out rlrun: already holds a sonar posttrain rl run; pass --resume"),
    cli("posttrain-rl-resume-nothing", lambda sb: _rl(sb, "new", "--resume"),
        r"--resume: new holds no sonar posttrain rl run to resume"),
    cli("train-out-posttrain-rl-run", lambda sb: _train(_rl_run(sb), "--steps", "1", "--corpus", _corpus_flag(sb)),
        r"rlrun: is not empty and holds no sonar train run"),
    cli("train-out-posttrain-sft-output", lambda sb: _train(_stage_output(sb), "--steps", "1", "--corpus",
                                                            _corpus_flag(sb)), r"ps1: is not empty"),
    cli("export-into-posttrain-output", lambda sb: ["export", sb.run(), "--best", "--to", _stage_output(sb),
                                                    "--overwrite"], r"holds a sonar posttrain-sft"),
]

RESUME = [  # 2, 6
    cli("train-resume-state-removed", lambda sb: _train(_stateless_train_run(sb), "--resume", "--steps", "3"),
        r"--resume: trained holds no training state to resume"),
    cli("posttrain-rl-resume-other-from", lambda sb: _rl(sb, _rl_run(sb), "--resume",
                                                         start=sb.checkpoint("other")),
        r"--from other differs from the checkpoint this RL run started from"),
]

DIVERGED = [  # 3, 4: absurd rates and temperatures refused; a NaN loss one error, no model written
    cli("posttrain-sft-lr-huge", _sft("o", "--lr", "1e30"), r"--lr 1e\+30: must be a finite number > 0 and at most"),
    cli("posttrain-dpo-lr-huge", lambda sb: _dpo(sb, "o", "--steps", "1", "--lr", "1e30"), r"--lr 1e\+30"),
    cli("posttrain-distill-lr-huge", lambda sb: _distill(sb, "o", "--lr", "1e30"), r"--lr 1e\+30"),
    cli("posttrain-rl-lr-huge", lambda sb: _rl(sb, "o", "--lr", "1e30"), r"--lr 1e\+30"),
    cli("posttrain-dpo-beta-huge", lambda sb: _dpo(sb, "o", "--steps", "1", "--beta", "1e308"),
        r"--beta 1e\+308: must be a finite number > 0 and at most 100"),
    cli("posttrain-dpo-nll-weight-huge", lambda sb: _dpo(sb, "o", "--steps", "1", "--nll-weight", "1e308"),
        r"--nll-weight 1e\+308"),
    cli("posttrain-rl-kl-coef-huge", lambda sb: _rl(sb, "o", "--kl-coef", "1e308"), r"--kl-coef 1e\+308"),
    cli("posttrain-distill-temperature-huge", lambda sb: _distill(sb, "o", "--temperature", "1e308"),
        r"--temperature 1e\+308: must be a finite number > 0 and at most 100"),
    cli("posttrain-rl-temperature-inf", lambda sb: _rl(sb, "o", "--temperature", "inf"), r"--temperature inf"),
    cli("posttrain-rl-temperature-huge", lambda sb: _rl(sb, "o", "--temperature", "1e308"), r"--temperature 1e\+308"),
    cli("posttrain-dpo-temperature-huge", lambda sb: _dpo(sb, "o", "--settings", "temperature=1e308"),
        r"temperature=1e\+308"),
    cli("posttrain-sft-nan-start", lambda sb: ["posttrain", "sft", "--from", _nan_checkpoint(sb), *SFT, "--out",
                                               "o"], r"nanckpt: tensor '[\w.]+' holds NaN or infinite values"),
    cli("posttrain-distill-nan-teacher", lambda sb: [
        "posttrain", "distill", "--teacher", _nan_checkpoint(sb), "--from", _ckpt(sb), *SFT, "--out", "o"],
        r"nanckpt: tensor '[\w.]+' holds NaN or infinite values"),
]

SETTINGS = [  # 5: a value given twice, a negative warm-up
    cli("posttrain-dpo-warmup-negative", lambda sb: _dpo(sb, "o", "--settings", "warmup=-1"),
        r"warmup=-1: must be an integer between 0 and"),
    cli("posttrain-all-dpo-warmup-negative", ["posttrain", "all", "--preset", "debug", "--dpo", "warmup=-1", "--out",
                                              "o"], r"warmup=-1"),
    cli("posttrain-dpo-steps-twice", lambda sb: _dpo(sb, "o", "--steps", "1", "--settings", "steps=5"),
        r"--steps 1 and --settings 'steps=5' both set steps; give it once"),
    cli("posttrain-dpo-lr-twice", lambda sb: _dpo(sb, "o", "--lr", "0.5", "--settings", "lr=0.1"),
        r"--lr 0\.5 and --settings 'lr=0\.1' both set lr"),
    cli("posttrain-dpo-beta-twice", lambda sb: _dpo(sb, "o", "--beta", "0.2", "--settings", "beta=0.1"),
        r"--beta 0\.2 and --settings 'beta=0\.1'"),
    cli("posttrain-all-dpo-steps-twice", ["posttrain", "all", "--preset", "debug", "--dpo-steps", "1", "--dpo",
                                          "steps=3", "--out", "o"],
        r"--dpo-steps 1 and --dpo 'steps=3' both set steps"),
    cli("posttrain-all-dpo-nll-weight-twice", ["posttrain", "all", "--preset", "debug", "--dpo-nll-weight", "1",
                                               "--dpo", "nll_weight=0", "--out", "o"],
        r"--dpo-nll-weight 1\.0 and --dpo 'nll_weight=0'"),
]

CORPUS = [  # 7, 8
    cli("train-preset-empty", lambda sb: _train("r", "--preset", "", "--steps", "1", "--corpus", _corpus_flag(sb)),
        r"--preset '': unknown preset ''"),
    cli("train-corpus-empty", _train("r", "--steps", "1", "--corpus", ""), r"corpus '' is empty"),
    cli("eval-length-corpus-empty", lambda sb: ["eval", "length", sb.train_run(), "--out", "o", "--corpus", ""],
        r"corpus '' is empty"),
    cli("train-corpus-fifo", lambda sb: _train("r", "--steps", "1", "--corpus", _fifo(sb)),
        r"fifo\.txt' is not a regular file or directory"),
    cli("train-corpus-dev-zero", _train("r", "--steps", "1", "--corpus", "/dev/zero"),
        r"'/dev/zero' is not a regular file or directory"),
    cli("train-corpus-glob-from-root", _train("r", "--steps", "1", "--corpus", "/**/*.txt"),
        r"corpus glob '/\*\*/\*\.txt' would search the filesystem's root recursively"),
    cli("train-corpus-glob-from-home", _train("r", "--steps", "1", "--corpus", "~/**/*.txt"),
        r"would search your home directory recursively"),
    cli("train-corpus-glob-above-home", _train("r", "--steps", "1", "--corpus", "**/*.txt"),
        r"would search an ancestor of your home directory recursively"),
    cli("train-corpus-dir-above-home", _train("r", "--steps", "1", "--corpus", "."),
        r"corpus '\.' is an ancestor of your home directory"),
    api("api-load-corpus-empty", lambda _: load_corpus(""), r"corpus '' is empty"),
    api("api-check-corpus-glob-from-root", lambda _: check_corpus("/**/*.txt"), r"filesystem's root"),
]

SEEDS = [  # 9
    cli("eval-tasks-seed-negative", lambda sb: ["eval", "tasks", sb.checkpoint(), "--per-cell", "1", "--seed", "-1"],
        r"--seed -1: must be between 0 and"),
    cli("eval-tasks-seed-huge", lambda sb: ["eval", "tasks", sb.checkpoint(), "--per-cell", "1", "--seed", BIG],
        rf"--seed {BIG}"),
]

CASES = OUTPUTS + RESUME + DIVERGED + SETTINGS + CORPUS + SEEDS


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


# -- behaviour that is not one refused command line ---------------------------------------------------------


def _nan_model(model):
    with torch.no_grad():
        next(iter(model.parameters())).fill_(float("nan"))
    return model


@pytest.mark.parametrize("stage", ["sft", "dpo", "distill"])
def test_a_nan_loss_stops_every_stage(stage, sandbox):
    model = _nan_model(load_pretrained(sandbox.artefacts.checkpoint))
    with pytest.raises(Exception, match=r"training diverged at step 1: the loss is nan") as info:
        if stage == "sft":
            run_sft(model, ["2+2="], ["4"], SFTConfig(steps=2, batch_size=1))
        elif stage == "dpo":
            from sonar.posttrain.chat import encode_pair
            pair = PairIds(encode_pair("2+2=", "4"), encode_pair("2+2=", "5"))
            run_dpo(model, [pair], DPOConfig(steps=2, batch_size=1))
        else:
            teacher = load_pretrained(sandbox.artefacts.checkpoint)
            run_distill(model, teacher, ["2+2="], ["4"], DistillConfig(steps=2, batch_size=1))
    assert type(info.value).__name__ == "UserError"


def test_weights_that_stop_being_finite_stop_training(sandbox, monkeypatch):
    """The loss of the last step can be finite while its update leaves NaN weights: caught after the step."""
    model = load_pretrained(sandbox.artefacts.checkpoint)
    real_step = torch.optim.AdamW.step

    def poisoned(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        _nan_model(model)
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned)
    with pytest.raises(Exception, match=r"step 1: the weights are no longer finite"):
        run_sft(model, ["2+2="], ["4"], SFTConfig(steps=1, batch_size=1))


def test_weights_poisoned_before_the_last_step_stop_training_at_the_next_loss(sandbox, monkeypatch):
    """Weights are read only after the last update; before it, the next step's loss is what goes non-finite."""
    model = load_pretrained(sandbox.artefacts.checkpoint)
    real_step = torch.optim.AdamW.step
    calls = []

    def poisoned_once(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        if not calls:
            _nan_model(model)
        calls.append(1)
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned_once)
    with pytest.raises(Exception, match=r"step 2: the loss is nan"):
        run_sft(model, ["2+2="], ["4"], SFTConfig(steps=3, batch_size=1))


def test_rl_bounds_its_temperature_and_warmup():
    for kwargs, named in [(dict(temperature=1e308), "temperature=1e+308"), (dict(warmup=-1), "warmup=-1")]:
        with pytest.raises(Exception, match=named.replace("+", r"\+")):
            RLConfig(**kwargs)


def test_sonar_train_that_diverges_writes_no_model(sandbox, monkeypatch):
    """As post-training: a run whose loss goes non-finite is one error line, exit 2, and no model or curve."""
    import sonar.cli.train as train_cli

    real = train_cli.train_config_for

    def diverging(*a, **kw):  # a rate past TrainConfig's bound (lr <= 10), set behind its check to force NaN
        config = real(*a, **kw)
        object.__setattr__(config, "lr", 1e30)
        return config

    monkeypatch.setattr(train_cli, "train_config_for", diverging)
    result = CliRunner().invoke(app, _train("r", "--steps", "3", "--corpus", _corpus_flag(sandbox)))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith("error: training diverged"), result.stderr
    assert not (sandbox.root / "r" / "model").exists() and not (sandbox.root / "r" / "curve.json").exists()


def test_a_relative_corpus_is_recorded_absolute_and_resumes_elsewhere(sandbox, monkeypatch):
    corpus = sandbox.corpus()
    runner = CliRunner()
    first = runner.invoke(app, _train("r", "--steps", "1", "--corpus", corpus))
    assert first.exit_code == 0, first.output
    saved = json.loads((sandbox.root / "r" / "train_config.json").read_text())["data"]["corpus"]
    assert saved == str(sandbox.root / corpus)
    elsewhere = sandbox.root / "home"
    monkeypatch.chdir(elsewhere)
    resumed = runner.invoke(app, _train(str(sandbox.root / "r"), "--steps", "2", "--resume"))
    assert resumed.exit_code == 0, resumed.output


def test_overwrite_replaces_only_an_earlier_result_of_the_same_stage(sandbox):
    out = _stage_output(sandbox)
    before = set(os.listdir(sandbox.root / out))
    result = CliRunner().invoke(app, _sft(out, "--overwrite"))
    assert result.exit_code == 0, result.output
    assert set(os.listdir(sandbox.root / out)) == before
    record = json.loads((sandbox.root / out / "sft.json").read_text())
    assert "examples" in record  # the new result, not the old one


def test_rl_resume_with_the_same_from_is_accepted(sandbox):
    start = sandbox.checkpoint()
    runner = CliRunner()
    first = runner.invoke(app, _rl(sandbox, "rl", start=start))
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, _rl(sandbox, "rl", "--resume", start=str(Path(sandbox.root / start))))
    assert again.exit_code == 0, again.output
