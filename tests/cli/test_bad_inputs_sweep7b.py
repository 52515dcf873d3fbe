"""Bad input found by a seventh sweep over train, eval, posttrain, demo and the checkpoint and model API (the
contract each case must meet: bad_input_cases.py). Each case was a traceback, a silent acceptance, a
misleading message or a file left behind before it was fixed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bad_input_cases import api, check_case, cli, params
from bad_input_sandbox import Sandbox

import sonar
from sonar.model.multimodal_config import MultimodalConfig
from sonar.model.vision_config import VisionConfig

_ALL = ["posttrain", "all", "--preset", "debug", "--out", "o", "--threads", "1", "--sft-steps", "1", "--rl-steps", "1",
        "--dpo-steps", "1", "--eval-per-cell", "1"]
_TUNE = ["posttrain", "tune", "--preset", "debug", "--out", "o", "--threads", "1", "--sft-steps", "1", "--rl-steps",
         "1", "--dpo-steps", "1", "--eval-per-cell", "1", "--seeds", "0"]


def _resume(sb: Sandbox, *extra: str) -> list[str]:
    return ["train", "--resume", "--out", "trained", "--steps", "3", "--threads", "1", *extra]


def _run_record(sb: Sandbox, **changes) -> list[str]:
    """The trained run with its state/run.json edited."""
    sb.train_run()
    sb.edit_json("trained/state/run.json", lambda record: record | changes)
    return _resume(sb)


def _run_settings(sb: Sandbox, **changes) -> list[str]:
    sb.train_run()
    sb.edit_json("trained/train_config.json", lambda settings: settings | changes)
    return _resume(sb)


def _model_replaced_by_file(sb: Sandbox) -> list[str]:
    import shutil

    shutil.rmtree(sb.root / sb.train_run() / "model")
    sb.file("trained/model", "my notes\n")
    return _resume(sb)


def _short_context(sb: Sandbox) -> str:
    """The debug checkpoint, its config.json reading at most 16 positions: shorter than any chat prompt."""
    sb.edit_json(f"{sb.checkpoint()}/config.json", lambda config: config | {"max_position_embeddings": 16})
    return "ckpt"


def _tied_config(sb: Sandbox) -> str:
    """The debug checkpoint (its own lm_head.weight) with config.json saying the head is tied to the embeddings."""
    sb.edit_json(f"{sb.checkpoint()}/config.json", lambda config: config | {"tie_word_embeddings": True})
    return "ckpt"


def _cache_of(model):
    from sonar.model.cache import KVCache

    return KVCache.allocate(model, batch=1, max_len=8)


_RL = ["--save-every", "1", "--out", "rl", "--threads", "1", "--prompts-per-step", "2", "--group-size", "2"]


def _rl_then(sb: Sandbox, edit) -> list[str]:
    """A one-step RL run in `rl`, `edit(sb)` applied to it, and the command that resumes it to step 2."""
    from typer.testing import CliRunner

    from sonar.cli import app

    ran = CliRunner().invoke(app, ["posttrain", "rl", "--from", sb.checkpoint(), "--steps", "1", *_RL])
    assert ran.exit_code == 0, ran.output
    edit(sb)
    return ["posttrain", "rl", "--from", "ckpt", "--steps", "2", *_RL, "--resume"]


def _curve_to_folder(sb: Sandbox) -> None:
    (sb.root / "rl" / "curve.json").unlink()
    (sb.root / "rl" / "curve.json").mkdir()


def _demo_started(sb: Sandbox) -> str:
    """A demo run directory `d` whose default search has started and run nothing."""
    import yaml

    from sonar.cli.demo import default_spec_path
    from sonar.search.engine import start_search

    start_search(yaml.safe_load(default_spec_path().read_text()), sb.root / "d").close()
    return "d"


def _debug_model(sb: Sandbox):
    return sonar.build_model(sonar.preset("debug"))


def _small_multimodal() -> MultimodalConfig:
    vision = VisionConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128,
                          image_size=32, patch_size=8, projector_input_dim=64, projector_output_dim=64,
                          vision_output_dim=64)
    return MultimodalConfig(text=sonar.preset("debug").replace(vocab_size=600), vision=vision,
                            boi_token_index=597, eoi_token_index=598, image_token_index=599)


def _multimodal_checkpoint(sb: Sandbox, **vision_changes) -> str:
    """A small multimodal checkpoint `mm` as save_multimodal writes it, its config.json's vision_config edited."""
    from sonar.checkpoint import save_multimodal
    from sonar.model.fusion import build_multimodal_model

    save_multimodal(build_multimodal_model(_small_multimodal()), sb.root / "mm")
    sb.edit_json("mm/config.json", lambda config: config | {"vision_config": config["vision_config"] | vision_changes})
    return "mm"


def _load_multimodal(path: str):
    from sonar.checkpoint import load_multimodal

    return load_multimodal(path)


CASES = [
    # read as the pipeline's per-seed seed anyway: the DPO stage of every --seeds seed ran under that seed, and
    # `seed=3` changed nothing
    cli("posttrain-all-dpo-seed", [*_ALL, "--dpo", "seed=3"],
        r"--dpo 'seed=3': the DPO stage runs under each --seeds seed; set seeds with --seeds"),
    cli("posttrain-tune-dpo-candidate-seed", [*_TUNE, "--dpo-candidates", "beta=0.5;seed=3"],
        r"--dpo-candidates 'seed=3': the DPO stage runs under each --seeds seed; set seeds with --seeds"),
    # int() and float() read other scripts' digits: '٣' trained three steps
    cli("posttrain-dpo-settings-arabic-digit", lambda sb: [
        "posttrain", "dpo", "--from", sb.checkpoint(), "--out", "o", "--threads", "1", "--settings", "group_size=٣"],
        r"'group_size=٣': the value must be of type int"),
    # "path='': must name a directory": a Python argument name, not the flag or argument given
    cli("eval-tasks-checkpoint-empty", ["eval", "tasks", "", "--threads", "1", "--per-cell", "1"],
        r"CHECKPOINT '': name a checkpoint directory"),
    cli("eval-length-checkpoint-empty", ["eval", "length", "", "--out", "o", "--multiples", "1", "--windows", "1"],
        r"CHECKPOINT '': name a `sonar train` run directory or a checkpoint"),
    # "a passkey window of 1 tokens cannot hold a key of 4 tokens twice", naming no flag, once every loss was measured
    cli("eval-length-window-too-short-for-passkey", lambda sb: [
        "eval", "length", sb.train_run(), "--out", "o", "--multiples", "1", "--windows", "1", "--train-len", "4"],
        r"train_len=4 x multiple 1: a passkey window of 4 tokens cannot hold a key of 4 tokens twice \(it needs 11\):"
        r" give a longer --train-len"),
    cli("posttrain-sft-from-empty", ["posttrain", "sft", "--from", "", "--steps", "1", "--out", "o", "--threads", "1"],
        r"--from '': name a checkpoint directory"),
    # "input_ids hold 27 tokens: more than the model's max_position_embeddings=16": generate's own argument, which no
    # command has
    cli("eval-tasks-checkpoint-context-too-short", lambda sb: [
        "eval", "tasks", _short_context(sb), "--threads", "1", "--per-cell", "1", "--levels", "1"],
        r"the prompt '.*' is \d+ tokens in the chat template, .* the model reads at most 16 "
        r"\(max_position_embeddings in its config\.json\)"),
    cli("posttrain-rl-checkpoint-context-too-short", lambda sb: [
        "posttrain", "rl", "--from", _short_context(sb), "--steps", "1", "--out", "o", "--threads", "1",
        "--prompts-per-step", "2", "--group-size", "2"], r"the model reads at most 16 \(max_position_embeddings in"),
    # "rl/curve.json: cannot write (Is a directory at rl/.curve.json.xxxx)" once every resumed step had run
    cli("posttrain-rl-resume-curve-is-a-folder", lambda sb: _rl_then(sb, _curve_to_folder),
        r"rl/curve\.json: exists and is not a file, and the run writes its curve there", writes=("rl",)),
    # read as "no record": --resume then took any --from as the run's KL reference
    cli("posttrain-rl-resume-record-from-number", lambda sb: _rl_then(
        sb, lambda sb: sb.edit_json("rl/rl_run.json", lambda record: record | {"from": 5})),
        r"rl/rl_run\.json: not a readable RL run record \('from' is 5, a checkpoint path is expected\)",
        writes=("rl",)),
    # "unknown preset 'nope'" or "seed='x': must be an integer", naming no file, the second once the corpus was read
    cli("train-resume-record-preset-unknown", lambda sb: _run_record(sb, candidate="nope"),
        r"trained/state/run\.json: not a readable run record \(candidate='nope': unknown preset"),
    cli("train-resume-record-seed-text", lambda sb: _run_record(sb, seed="x"),
        r"trained/state/run\.json: not a readable run record \(seed='x': must be an integer"),
    # a fresh run refuses more than 10**9 steps; a resumed one set out to train them
    cli("train-resume-steps-huge", lambda sb: sb.train_run() and _resume(sb)[:4] + ["--steps", "100000000000",
                                                                                "--threads", "1"],
        r"--steps 100000000000: must be at most 1,000,000,000"),
    # "device='cuda': no CUDA device ...; use device=cpu": named neither the run's settings nor the flag
    cli("train-resume-settings-device-absent", lambda sb: _run_settings(sb, device="cuda:7"),
        r"trained/train_config\.json: the run trained on device 'cuda:7', .*pass --device cpu"),
    # "trained/model: exists and is not a directory" in an absolute path, once the whole resumed training had run
    cli("train-resume-model-is-a-file", _model_replaced_by_file,
        r"trained/model: exists and is not a folder, and the run writes its checkpoint there"),
    # TypeError "got an unexpected keyword argument 'foo'", where ModelConfig.replace names the field
    api("api-multimodal-config-replace-unknown", lambda _: MultimodalConfig().replace(foo=1),
        r"unknown MultimodalConfig fields: \['foo'\]"),
    # checked on a fresh demo only: a resumed one ran its search, then generate refused max_new_tokens=9,999
    cli("demo-resumed-new-tokens-past-positions", lambda sb: _demo_started(sb) and [
        "demo", "--out", "d", "--new-tokens", "9999"],
        r"--new-tokens 9,999: the demo's models read at most [\d,]+ positions", writes=("d",)),
    # loaded, and run with other math than transformers runs the same file with: it always uses 1e-5 and a projector
    # without bias (save_multimodal refuses to write either); a bias asked for was "missing tensor ...linear_1.bias"
    api("api-load-multimodal-vision-norm-eps", lambda path: _load_multimodal(path),
        r"mm/config\.json: vision norm_eps=1e-06: transformers always uses 1e-05",
        setup=lambda sb: _multimodal_checkpoint(sb, norm_eps=1e-6)),
    api("api-load-multimodal-projector-bias", lambda path: _load_multimodal(path),
        r"mm/config\.json: multi_modal_projector_bias=True: transformers' projector has no bias",
        setup=lambda sb: _multimodal_checkpoint(sb, multi_modal_projector_bias=True)),
    # read as a square side of 32: a size is a side or [height, width]
    api("api-load-multimodal-image-size-three-sides", lambda path: _load_multimodal(path),
        r"mm/config\.json: vision image_size=\[32, 32, 32\]: expected a side or \[height, width\]",
        setup=lambda sb: _multimodal_checkpoint(sb, image_size=[32, 32, 32])),
    # loaded, the head taken from the file where transformers ties it to the embeddings and drops the tensor
    api("api-load-tied-checkpoint-with-another-head", lambda path: sonar.load_pretrained(path),
        r"ckpt: config\.json sets tie_word_embeddings=true, but tensor 'lm_head\.weight' differs from "
        r"'model\.embed_tokens\.weight'", setup=lambda sb: _tied_config(sb)),
    # TypeErrors: "RopeScaling.__init__() got an unexpected keyword argument", "'int' object is not iterable"
    api("api-model-config-from-dict-rope-unknown",
        lambda _: sonar.ModelConfig.from_dict({"rope_scaling": {"fator": 8}}),
        r"rope_scaling: unknown fields \['fator'\]"),
    api("api-model-config-from-dict-moe-layers-int", lambda _: sonar.ModelConfig.from_dict({"moe_layers": 3}),
        r"moe_layers=3: must be a list of integers"),
    # accepted, then save_pretrained failed with "'int' object has no attribute 'items'"
    api("api-model-config-extra-not-a-dict", lambda _: sonar.ModelConfig(extra=5), r"extra=5: must be a dict"),
    # an IndexError (fewer layers) or a RuntimeError from index_copy_ about slice shapes (other heads)
    api("api-forward-cache-of-another-model", lambda m: m(torch.tensor([[1, 2]]), cache=_cache_of(
        sonar.build_model(sonar.preset("debug").replace(num_hidden_layers=2)))),
        r"the cache was allocated for another model", setup=_debug_model),
    api("api-forward-cache-of-other-heads", lambda m: m(torch.tensor([[1, 2]]), cache=_cache_of(
        sonar.build_model(sonar.preset("debug").replace(num_key_value_heads=4)))),
        r"the cache was allocated for another model", setup=_debug_model),
    api("api-vision-config-replace-unknown", lambda _: VisionConfig().replace(patch=8),
        r"unknown VisionConfig fields: \['patch'\]"),
    # written after the config's own fields, extra replaced them: config.json said hidden_size 5 beside weights
    # of width 64, and the checkpoint failed only when loaded, on a tensor's shape
    api("api-save-extra-contradicting-a-field", lambda sb: sonar.checkpoint.save_pretrained(
        sonar.build_model(sonar.preset("debug").replace(extra={"hidden_size": 5})), sb.root / "out"),
        r"extra\['hidden_size'\]=5: contradicts the config's own hidden_size=64", setup=lambda sb: sb),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def test_posttrain_data_with_a_line_separator_inside_a_string_is_read(sandbox):
    # str.splitlines() cut the line at U+2028, which JSON allows unescaped in a string: "not valid JSON
    # (Unterminated string ...)" for a valid file
    from sonar.posttrain.user_data import read_pairs

    path = sandbox.file("d.jsonl", '{"prompt": "a\u2028b", "response": "c\u0085d"}\n{"prompt": "e", "response": "f"}\n')
    assert [(p.prompt, p.response) for p in read_pairs(path)] == [("a\u2028b", "c\u0085d"), ("e", "f")]


def test_a_numpy_seed_generates_as_its_int_does():
    # check_seed accepts numpy integers, and torch's manual_seed then failed on them: "an integer is required"
    model = sonar.build_model(sonar.preset("debug"))
    prompt = torch.tensor([[1, 2, 3]])
    sampled = [sonar.generate(model, prompt, max_new_tokens=4, temperature=1.0, seed=seed)
               for seed in (np.int64(7), 7)]
    assert torch.equal(*sampled)


def test_a_numpy_seed_builds_the_multimodal_model_its_int_does():
    from sonar.model.fusion import build_multimodal_model

    config = _small_multimodal()
    built = [build_multimodal_model(config, seed=seed).state_dict() for seed in (np.int64(5), 5)]
    assert all(torch.equal(built[0][key], built[1][key]) for key in built[0])


def test_an_rl_run_stopped_before_its_first_state_can_be_started_again(sandbox):
    # its marker and rl_run.json stayed: a rerun was told "already holds a sonar posttrain rl run; pass --resume",
    # and --resume then "no RL state to resume; run without --resume"
    from typer.testing import CliRunner

    from sonar.cli import app

    rl = ["posttrain", "rl", "--steps", "1", "--out", "o", "--threads", "1", "--prompts-per-step", "2",
          "--group-size", "2", "--start-level", "1", "--max-level", "1"]
    failed = CliRunner().invoke(app, [*rl, "--from", _short_context(sandbox)])
    assert failed.exit_code == 2 and not (sandbox.root / "o").exists(), failed.output
    sandbox.edit_json("ckpt/config.json", lambda config: config | {"max_position_embeddings": 4096})
    again = CliRunner().invoke(app, [*rl, "--from", "ckpt"])
    assert again.exit_code == 0, again.output


def test_a_tied_checkpoint_loads_tied_and_saves_what_was_trained(sandbox):
    # load_state_dict gave the head its own parameter: a tied model trained after loading moved it away from the
    # embedding, and save_pretrained, which writes the embedding alone, dropped every change to the head
    sonar.save_pretrained(sonar.build_model(sonar.preset("debug").replace(tie_word_embeddings=True)), "tied")
    model = sonar.load_pretrained("tied")
    assert model.lm_head.weight is model.embed.weight
    with torch.no_grad():
        model.lm_head.weight.add_(0.5)
    prompt = torch.tensor([[1, 2, 3]])
    sonar.save_pretrained(model, "trained")
    assert torch.equal(model(prompt).logits, sonar.load_pretrained("trained")(prompt).logits)


def test_a_tied_multimodal_checkpoint_loads_tied(sandbox):
    from sonar.checkpoint import load_multimodal, save_multimodal
    from sonar.model.fusion import build_multimodal_model

    config = _small_multimodal()
    config = config.replace(text=config.text.replace(tie_word_embeddings=True))
    save_multimodal(build_multimodal_model(config), "mm")
    text = load_multimodal("mm").language_model
    assert text.lm_head.weight is text.embed.weight


def test_a_numpy_seed_builds_the_model_its_int_does():
    # check_seed accepts numpy integers, and torch's manual_seed then failed on them: "an integer is required"
    built = [sonar.build_model(sonar.preset("debug"), seed=seed).state_dict() for seed in (np.int64(5), 5)]
    assert all(torch.equal(built[0][key], built[1][key]) for key in built[0])


def test_dpo_settings_seed_draws_the_prompts_seed_draws(sandbox, monkeypatch):
    # --settings 'seed=5' sampled the replies under 5, and the prompts were drawn under --seed's default 0
    from typer.testing import CliRunner

    import sonar.cli.posttrain as posttrain_cli
    from sonar.cli import app

    drawn = []

    def sampled_pairs(model, prompts, config):
        drawn.append([p.prompt for p in prompts])
        return []

    monkeypatch.setattr(posttrain_cli, "sampled_pairs", sampled_pairs)
    start = sandbox.checkpoint()
    for seed in (["--seed", "5"], ["--settings", "seed=5"]):
        CliRunner().invoke(app, ["posttrain", "dpo", "--from", start, "--out", "o", "--threads", "1", "--per-cell",
                                 "2", *seed])
    assert len(drawn) == 2 and drawn[0] == drawn[1]
