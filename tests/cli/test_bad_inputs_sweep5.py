"""Bad input found by a fifth sweep (the contract each case must meet: bad_input_cases.py). Each case was a
traceback, a silent acceptance, a misleading message or a file left behind before it was fixed."""

from __future__ import annotations

import json
import os

import pytest
import torch
from bad_input_cases import api, check_case, cli, params
from bad_input_sandbox import Sandbox
from typer.testing import CliRunner

import sonar
import sonar.checkpoint
from sonar.cli import app
from sonar.systems.tuner import SystemTuner


def _config_edited(edit):
    """A copy of the valid checkpoint whose config.json has `edit(config)` applied in place."""
    def setup(sb: Sandbox):
        ckpt = sb.root / sb.checkpoint()
        config = json.loads((ckpt / "config.json").read_text())
        edit(config)
        (ckpt / "config.json").write_text(json.dumps(config))
        return ckpt
    return setup


def _rope(**values):
    return _config_edited(lambda c: c["rope_parameters"].update(values))


def _old_style_rope(**values):
    """transformers 4.x wrote rope_theta and rope_scaling at the top level instead of rope_parameters."""
    return _config_edited(lambda c: (c.pop("rope_parameters"), c.update(values)))


def _multimodal_hf(edit=None) -> dict:
    """The config.json a multimodal checkpoint of the default MultimodalConfig holds, `edit(config)` applied."""
    from sonar.checkpoint import multimodal_to_hf
    from sonar.model.multimodal_config import MultimodalConfig

    config = multimodal_to_hf(MultimodalConfig())
    if edit is not None:
        edit(config)
    return config


def _vision(**values):
    return lambda: _multimodal_hf(lambda c: c["vision_config"].update(values))


def _from_hf(make):
    from sonar.checkpoint import multimodal_from_hf

    return lambda _: multimodal_from_hf(make())


def _fifo(sb: Sandbox, name: str) -> str:
    (sb.root / name).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(sb.root / name)
    return name


def _torch_file_edited(path, edit) -> None:
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, path)


def _train_state(edit):
    """`sonar train --resume` on a copy of the valid run whose training checkpoint has `edit(payload)` applied."""
    def argv(sb: Sandbox) -> list[str]:
        run = sb.train_run()
        _torch_file_edited(sb.root / run / "state" / "train_state.pt", edit)
        return ["train", "--resume", "--out", run, "--steps", "3", "--threads", "1"]
    return argv


_RL = ["--save-every", "1", "--out", "rl", "--threads", "1", "--prompts-per-step", "2", "--group-size", "2"]


def _rl_state(edit, steps: int = 3):
    """`sonar posttrain rl --resume` to `steps` on a two-step RL run whose state has `edit(payload)` applied."""
    def argv(sb: Sandbox) -> list[str]:
        ckpt = sb.checkpoint()
        ran = CliRunner().invoke(app, ["posttrain", "rl", "--from", ckpt, "--steps", "2", *_RL], env=sb.env())
        assert ran.exit_code == 0, ran.output
        _torch_file_edited(sb.root / "rl" / "state" / "rl_state.pt", edit)
        return ["posttrain", "rl", "--from", ckpt, "--steps", str(steps), *_RL, "--resume"]
    return argv


def _first_tensor(payload_key: str, value):
    return lambda payload: payload[payload_key].update({next(iter(payload[payload_key])): value})


def _tune(*extra: str) -> list[str]:
    return ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w", *extra]


CASES = [
    # a quality delta is a relative error: past 1 every configuration passes, so the limit tuned nothing
    cli("tune-quality-limit-huge", _tune("--quality-limit", "1e20"), r"--quality-limit 1e\+20: must be at most 1"),
    cli("bench-tune-quality-limit-above-one", ["bench", "tune", "--trials", "1", "--train-steps", "0", "--workdir",
                                               "bt", "--quality-limit", "2"],
        r"--quality-limit 2\.0: must be at most 1"),
    api("api-tuner-quality-limit-huge", lambda _: SystemTuner(quality_limit=1e20),
        r"quality_limit=1e\+20: must be at most 1"),
    # accepted, then a TypeError once the tuning had begun (the callback: after the first trial was measured)
    api("api-tuner-prior-path-number", lambda _: SystemTuner(prior_path=5),
        r"prior_path=5: must be a file path \(str or pathlib\.Path\) or None"),
    api("api-tuner-on-trial-not-callable", lambda _: SystemTuner(on_trial="print"),
        r"on_trial='print': must be a function or None"),
    api("api-tuner-val-loss-fn-not-callable", lambda _: SystemTuner(val_loss_fn=0.5),
        r"val_loss_fn=0\.5: must be a function or None"),
    # a directory with no config.json: the candidate's random init was tuned instead, without a word
    api("api-tuner-checkpoint-missing", lambda sb: SystemTuner(checkpoint=sb.root / "gone"),
        r"gone: no config\.json \(not a transformers checkpoint directory\)", setup=lambda sb: sb),
    api("api-tuner-checkpoint-user-dir", lambda sb: SystemTuner(checkpoint=sb.root / "home"),
        r"home: no config\.json", setup=lambda sb: sb),
    # multimodal config.json values of the wrong JSON type: AttributeError or TypeError tracebacks, or (true, "1e4")
    # read as a number
    api("api-multimodal-from-hf-list", _from_hf(lambda: [1]), r"multimodal_from_hf: expected a dict .*got list"),
    api("api-multimodal-vision-config-number", _from_hf(lambda: _multimodal_hf(lambda c: c.update(vision_config=5))),
        r"vision_config=5: must be an object"),
    api("api-multimodal-vision-rope-list", _from_hf(_vision(rope_parameters=[1])),
        r"vision rope_parameters=\[1\]: expected a mapping"),
    api("api-multimodal-vision-rope-theta-true", _from_hf(_vision(rope_parameters={"rope_theta": True})),
        r"vision rope_theta=True: must be a finite number"),
    api("api-multimodal-vision-rope-theta-text", _from_hf(_vision(rope_parameters={"rope_theta": "1e4"})),
        r"vision rope_theta='1e4': must be a finite number"),
    api("api-multimodal-vision-image-size-nested", _from_hf(_vision(image_size=[[336], [336]])),
        r"vision image_size=\[336\]: must be an integer"),
    api("api-multimodal-to-hf-text-config", lambda _: sonar.checkpoint.multimodal_to_hf(sonar.preset("debug")),
        r"config: expected a MultimodalConfig, got ModelConfig"),
    # past the positions the demo's models read: refused by generate only once the whole search had run (minutes)
    cli("demo-new-tokens-past-the-model", ["demo", "--out", "d", "--new-tokens", "5000"],
        r"--new-tokens 5,000: the demo's models read at most 4,096 positions"),
    # a FIFO where a file is read: reading it waited for a writer forever
    cli("posttrain-sft-data-fifo", lambda sb: ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--out", "o",
                                               "--threads", "1", "--data", _fifo(sb, "d.jsonl")],
        r"d\.jsonl: not a regular file \(a FIFO, device or socket\)"),
    cli("posttrain-dpo-pairs-fifo", lambda sb: ["posttrain", "dpo", "--from", sb.checkpoint(), "--steps", "1", "--out",
                                                "o", "--threads", "1", "--pairs", _fifo(sb, "p.jsonl")],
        r"p\.jsonl: not a regular file"),
    cli("bench-build-space-fifo", lambda sb: ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--max-steps",
                                              "8", "--max-trials", "1", "--space", _fifo(sb, "s.yaml")],
        r"--space s\.yaml: not a regular file"),
    # a systems prior that is no file was taken for absent, then replaced by the tuner's first write (the directory
    # case: an IsADirectoryError traceback once every trial had run)
    cli("tune-prior-fifo", lambda sb: _fifo(sb, "w/systems-prior.json") and _tune(),
        r"w/systems-prior\.json: not a readable systems prior \(not a regular file\)"),
    cli("tune-prior-directory", lambda sb: (sb.root / "w" / "systems-prior.json").mkdir(parents=True) or _tune(),
        r"w/systems-prior\.json: not a readable systems prior \(not a regular file\)"),
    cli("tune-state-fifo", lambda sb: _fifo(sb, "w/debug/systems/tune-decode-ctx-256-b-1.json") and _tune(),
        r"tune-decode-ctx-256-b-1\.json: not a readable tuning state \(not a regular file\)"),  # replaced afresh
    cli("tune-state-directory", lambda sb: (sb.root / "w/debug/systems/tune-decode-ctx-256-b-1.json").mkdir(
        parents=True) or _tune(), r"not a readable tuning state \(not a regular file\)"),  # IsADirectoryError
    cli("tune-out-fifo", lambda sb: _tune("--out", _fifo(sb, "c.json")), r"--out c\.json: exists and is not a regular "
        r"file"),  # hung, reading it to see whether it was a curve
    cli("replay-png-fifo", lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--png", _fifo(sb, "x.png")],
        r"--png x\.png: exists and is not a regular file"),  # io.UnsupportedOperation once the replay had run
    cli("figures-scoreboard-fifo", lambda sb: ["bench", "figures", "--scoreboard", _fifo(sb, "s.json"), "--readme",
                                               sb.file("R.md", "x\n"), "--check"],
        r"--scoreboard s\.json: not a regular file"),
    cli("suite-work-fifo", lambda sb: ["bench", "suite", sb.table(), "--out", "s.json", "--seeds", "1", "--work",
                                       _fifo(sb, "s.work.jsonl")], r"--work s\.work\.jsonl: exists and is not a "
        r"regular file"),  # hung on its first write
    # a path that exists but is no regular file was reported as missing ("no such spec file", "no such config.json")
    cli("search-spec-directory", lambda sb: (sb.root / "s.yaml").mkdir() or ["search", "s.yaml", "--out", "r"],
        r"s\.yaml: not a regular file \(a directory, FIFO, device or socket\)"),
    cli("search-spec-fifo", lambda sb: ["search", _fifo(sb, "s.yaml"), "--out", "r"], r"s\.yaml: not a regular file"),
    cli("plan-model-config-fifo", lambda sb: ["plan", "--model", _fifo(sb, "m/config.json").removesuffix(
        "/config.json")], r"--model 'm': m/config\.json is not a regular file"),
    # training and RL checkpoints edited by hand or from another model: read as they stood, then a TypeError,
    # KeyError or AttributeError traceback, or a RuntimeError from load_state_dict
    cli("train-resume-state-step-word", _train_state(lambda p: p["state"].update(step="x")),
        r"train_state\.pt: not a readable training checkpoint \('step' must be an integer >= 0, got 'x'\)"),
    cli("train-resume-state-losses-number", _train_state(lambda p: p["state"].update(losses=5)),
        r"train_state\.pt: not a readable training checkpoint \('losses' must be a list of numbers\)"),
    cli("train-resume-state-rng-empty", _train_state(lambda p: p.update(rng={})),
        r"train_state\.pt: not a readable training checkpoint \(KeyError: 'torch'\)"),
    cli("train-resume-state-tensor-shape", _train_state(_first_tensor("model", torch.zeros(3))),
        r"train_state\.pt: not a readable training checkpoint \(RuntimeError: .*size mismatch"),
    cli("posttrain-rl-resume-settings-list", _rl_state(lambda p: p.update(settings=[1])),
        r"rl_state\.pt: not a readable RL state \('settings' must be a mapping, got list\)"),
    cli("posttrain-rl-resume-curriculum-empty", _rl_state(lambda p: p.update(curriculum={})),
        r"rl_state\.pt: not a readable RL state \('curriculum' must hold a 'level' and a 'recent' list\)"),
    cli("posttrain-rl-resume-optimizer-empty", _rl_state(lambda p: p.update(optimizer={})),
        r"rl_state\.pt: not a readable RL state \(KeyError: 'param_groups'\)"),
    cli("posttrain-rl-resume-policy-nan", _rl_state(lambda p: [t.fill_(float("nan")) for t in p["policy"].values()]),
        r"rl_state\.pt: its policy or reference weights hold NaN"),  # a RuntimeError from sampling
    # fewer steps than the run has trained: the run's model was written again without a word (train refuses it)
    cli("posttrain-rl-resume-fewer-steps", _rl_state(lambda p: None, steps=1),
        r"--steps 1: this RL run has already trained 2 steps; pass --steps >= 2"),
    cli("eval-length-settings-seq-len-zero", lambda sb: [
        "eval", "length", sb.edit_json(f"{sb.train_run()}/train_config.json", lambda c: {**c, "seq_len": 0})
        .removesuffix("/train_config.json"), "--out", "o", "--threads", "1"],
        r"train_config\.json: not a readable run settings file \('seq_len' is 0, an integer >= 1 is expected\)"),
    # a config.json of the wrong JSON types: float() read true as a RoPE base of 1.0 and the text "1e5" as a number
    api("api-load-rope-theta-true", sonar.load_pretrained, r"config\.json: rope_theta=True: must be a number",
        setup=_rope(rope_theta=True)),
    api("api-load-rope-theta-text", sonar.load_pretrained, r"config\.json: rope_theta='1e5': must be a number",
        setup=_rope(rope_theta="1e5")),
    # dict() took a list of pairs as a mapping and the list was accepted; a word failed as "invalid value (dictionary
    # update sequence element #0 ...)"
    api("api-load-old-rope-scaling-list", sonar.load_pretrained,
        r"config\.json: rope_scaling=\[\['factor', 8\]\]: expected a mapping", setup=_old_style_rope(
            rope_theta=500000.0, rope_scaling=[["factor", 8]])),
    api("api-load-old-rope-theta-word", sonar.load_pretrained, r"config\.json: rope_theta='big': must be a number",
        setup=_old_style_rope(rope_theta="big")),
    # a number where a list belongs: "invalid value ('int' object is not iterable)", naming no key
    api("api-load-moe-layers-number", sonar.load_pretrained, r"config\.json: moe_layers=5: must be a list of integers",
        setup=_config_edited(lambda c: c.update(moe_layers=5))),
    api("api-from-hf-list", lambda _: sonar.checkpoint.from_hf([1]),  # AttributeError: 'list' has no 'get'
        r"from_hf: expected a dict \(a config\.json's contents\), got list"),
    api("api-load-layer-types-number", sonar.load_pretrained, r"config\.json: layer_types=5: must be a list",
        setup=_config_edited(lambda c: c.update(layer_types=5))),
    cli("tune-checkpoint-rope-theta-true", lambda sb: [
        "tune", "--checkpoint", str(_rope(rope_theta=True)(sb)), "--trials", "1", "--workdir", "w"],
        r"config\.json: rope_theta=True: must be a number"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def test_eval_length_help_says_what_zero_cached_windows_means():
    # 0 is legal (the cached path is skipped), so the help must say so rather than leave it to look like a typo
    result = CliRunner().invoke(app, ["eval", "length", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "0: skip the cached path" in result.stdout


def test_generate_with_a_top_p_below_float32_keeps_the_top_token():
    # top_p is legal in (0, 1]; compared in float32 a tiny one was 0, every token was dropped and sampling failed
    # with "probability tensor contains either inf, nan or element < 0"
    model = sonar.build_model(sonar.preset("debug"))
    out = sonar.generate(model, torch.tensor([[1, 2, 3]]), max_new_tokens=2, temperature=1.0, top_p=1e-300, seed=0)
    assert out.shape == (1, 5)
