"""Bad input found by a sixth sweep (the contract each case must meet: bad_input_cases.py). Each case was a
traceback, a silent acceptance, a misleading message or a file left behind before it was fixed."""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from bad_input_cases import api, check_case, cli, params
from bad_input_sandbox import Sandbox
from typer.testing import CliRunner

import sonar
import sonar.checkpoint
from sonar.cli import app

_BUILD = ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--max-steps", "8", "--max-trials", "1",
          "--tokenizer", "byte"]
_TUNE = ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w"]
_RL = ["--save-every", "1", "--out", "rl", "--threads", "1", "--prompts-per-step", "2", "--group-size", "2"]


def _junk_work(sb: Sandbox) -> list[str]:
    """A table's work folder left by an earlier build (the table itself since removed)."""
    sb.file("t.jsonl.work/c000/train_state.pt", "junk\n")
    return _BUILD


def _rl_state_junk(sb: Sandbox) -> list[str]:
    ckpt = sb.checkpoint()
    ran = CliRunner().invoke(app, ["posttrain", "rl", "--from", ckpt, "--steps", "1", *_RL], env=sb.env())
    assert ran.exit_code == 0, ran.output
    (sb.root / "rl" / "state" / "rl_state.pt").write_bytes(b"")
    return ["posttrain", "rl", "--from", ckpt, "--steps", "2", *_RL, "--resume"]


def _tuned_then_curve_replaced(sb: Sandbox) -> list[str]:
    """A tuning workdir whose curve file now holds the user's own text (replaced without a word on the next run)."""
    ran = CliRunner().invoke(app, _TUNE, env=sb.env())
    assert ran.exit_code == 0, ran.output
    sb.file("w/curve-debug-decode-ctx-256-b-1.json", "my notes\n")
    return _TUNE


def _multimodal_dir(sb: Sandbox, edit) -> str:
    """A directory `mm` whose config.json is the default multimodal checkpoint's, `edit(config)` applied."""
    from sonar.checkpoint import multimodal_to_hf
    from sonar.model.multimodal_config import MultimodalConfig

    config = multimodal_to_hf(MultimodalConfig())
    edit(config)
    sb.file("mm/config.json", json.dumps(config))
    return "mm"


def _figures(sb: Sandbox, readme: str) -> list[str]:
    ran = CliRunner().invoke(app, ["bench", "suite", sb.table(), "--out", "s.json", "--seeds", "1", "--jobs", "1",
                                   "--methods", "random,sonar,brute_force"], env=sb.env())
    assert ran.exit_code == 0, ran.output
    return ["bench", "figures", "--scoreboard", "s.json", "--readme", sb.file("R.md", readme)]


def _curve_replaced_by_folder(sb: Sandbox) -> str:
    run = sb.train_run()
    (sb.root / run / "curve.png").unlink()
    (sb.root / run / "curve.png").mkdir()
    return run


def _cache(model, batch: int, max_len: int):
    from sonar.model.cache import KVCache

    return KVCache.allocate(model, batch=batch, max_len=max_len)


def _debug_model(sb: Sandbox):
    return sonar.build_model(sonar.preset("debug"))


CASES = [
    # public, and a number was a TypeError from Path() ("expected str, bytes or os.PathLike object, not int")
    api("api-read-config-number", lambda _: sonar.checkpoint.read_config(5),
        r"path=5: must be a directory path \(str or pathlib\.Path\)"),
    # a non-function decode step failed as "'int' object is not callable" once the prefill had run
    api("api-generate-step-not-callable", lambda m: sonar.generate(m, torch.tensor([[1, 2, 3]]), max_new_tokens=2,
                                                                   step=3),
        r"step=3: must be a function", setup=_debug_model),
    # a table removed and built again met the earlier build's training states, and the error never said where they
    # came from or what to do
    cli("bench-build-stale-work-folder", _junk_work,
        r"t\.jsonl\.work/ holds the work of an earlier build of t\.jsonl: delete it to build afresh",
        writes=("t.jsonl.work",)),
    # a space no draw of which is valid: "arch: no valid architecture ...", naming no file
    cli("bench-build-space-never-valid", lambda sb: [*_BUILD, "--space", sb.file("s.yaml", "base: debug\nhidden_size:"
                                                                             " [64]\nnum_attention_heads: [3]\n")],
        r"--space s\.yaml: arch: no valid architecture in 200 draws"),
    # junk or an emptied file: "cannot read training checkpoint ...: 174812789" (torch's bare KeyError), or nothing
    # after the colon at all (an empty EOFError)
    cli("train-resume-state-text-junk", lambda sb: [
        "train", "--resume", "--out", sb.file(f"{sb.train_run()}/state/train_state.pt", "junk\n").split("/")[0],
        "--steps", "3", "--threads", "1"],
        r"train_state\.pt: not a torch checkpoint, or cut off \(KeyError: \d+\); delete it to retrain from step 0"),
    cli("posttrain-rl-resume-state-empty", _rl_state_junk,
        r"rl_state\.pt: not a torch checkpoint, or cut off \(EOFError\); delete it to start the run afresh",
        writes=("rl",)),
    # no examples drawn: blamed on the data ("needs at least one pair"), or for DPO on the policy's samples ("all
    # right or all wrong on every prompt") once the model had loaded and sampled nothing
    cli("posttrain-dpo-per-cell-zero", lambda sb: ["posttrain", "dpo", "--from", sb.checkpoint(), "--steps", "1",
                                                   "--out", "o", "--threads", "1", "--per-cell", "0"],
        r"--per-cell 0: must be >= 1"),
    cli("posttrain-sft-per-cell-zero", ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--out", "o",
                                        "--threads", "1", "--per-cell", "0"], r"--per-cell 0: must be >= 1"),
    cli("posttrain-distill-per-cell-negative", lambda sb: [
        "posttrain", "distill", "--teacher", sb.checkpoint(), "--from", "ckpt", "--steps", "1", "--out", "o",
        "--threads", "1", "--per-cell", "-3"], r"--per-cell -3: must be >= 1"),
    # "steps=0" or "lr=0.0": three flags set a stage's steps, and the message did not say which one was wrong
    cli("posttrain-all-sft-steps-zero", ["posttrain", "all", "--preset", "debug", "--out", "o", "--threads", "1",
                                         "--sft-steps", "0"], r"--sft-steps 0: must be between 1 and"),
    cli("posttrain-tune-dpo-steps-zero", ["posttrain", "tune", "--preset", "debug", "--out", "o", "--threads", "1",
                                          "--dpo-steps", "0"], r"--dpo-steps 0: must be between 1 and"),
    cli("posttrain-all-rl-lr-zero", ["posttrain", "all", "--preset", "debug", "--out", "o", "--threads", "1",
                                     "--rl-lr", "0"], r"--rl-lr 0\.0: must be a finite number > 0"),
    cli("posttrain-all-eval-per-cell-zero", ["posttrain", "all", "--preset", "debug", "--out", "o", "--threads", "1",
                                             "--eval-per-cell", "0"], r"--eval-per-cell 0: must be between 1 and"),
    # read by nothing: the byte tokenizer's 257 ids were trained on without a word (bench build refuses it)
    cli("train-vocab-with-byte-tokenizer", ["train", "--preset", "debug", "--steps", "1", "--out", "o", "--threads",
                                            "1", "--tokenizer", "byte", "--vocab", "300"],
        r"--vocab 300: sets the BPE vocabulary; the byte tokenizer's is fixed"),
    # accepted: the resumed jobs ran on the other backend, and one run's results mixed modelled and measured ones
    cli("search-resume-other-backend", lambda sb: ["search", "--resume", sb.run(), "--backend", "real"],
        r"--backend real: this search ran on the synthetic backend, and a resumed search keeps its own"),
    # another search was resumed as the demo's and its winner exported into its own run directory (which `sonar
    # export` refuses), then "nothing to generate" and exit 0
    cli("demo-out-another-search", lambda sb: ["demo", "--out", sb.run(), "--new-tokens", "1"],
        r"--out run: holds the search 'bad-inputs', not the demo's \(debug-default\); resume it with `sonar search"
        r" --resume run`"),
    # accepted: RoPE turned the other way and the causal mask compared against a position before the start
    api("api-forward-negative-position", lambda m: m(torch.tensor([[1, 2, 3]]), positions=torch.tensor([-1, 0, 1])),
        r"positions hold -1: absolute positions are >= 0", setup=_debug_model),
    # an IndexError or RuntimeError from index_copy_ about dimension 2 and slice shapes
    api("api-forward-past-the-cache", lambda m: m(torch.tensor([[1, 2, 3, 4, 5]]), cache=_cache(m, 1, 4)),
        r"position 4 is past the cache's max_len=4", setup=_debug_model),
    api("api-forward-cache-of-another-batch", lambda m: m(torch.tensor([[1, 2, 3]]), cache=_cache(m, 2, 8)),
        r"the cache holds a batch of 2 rows, input_ids 1", setup=_debug_model),
    # "not UTF-8 text (byte 1)": nothing said the file was compressed
    cli("posttrain-sft-data-gzipped", lambda sb: [
        "posttrain", "sft", "--preset", "debug", "--steps", "1", "--out", "o", "--threads", "1", "--data",
        sb.file("d.jsonl.gz", gzip.compress(b'{"prompt": "a", "response": "b"}\n'))],
        r"d\.jsonl\.gz: gzip-compressed; JSON lines are read as plain text: decompress it first"),
    # a folder where sonar writes a file, in a directory holding no files: "cannot write (Directory not empty at
    # .ex.staging-...)", a path the user never made
    cli("export-overwrite-folder-named-system-config", lambda sb: (sb.root / "ex/system_config.json").mkdir(
        parents=True) or ["export", sb.run(), "--best", "--to", "ex", "--overwrite"],
        r"ex/system_config\.json: sonar did not write it and would have to replace it"),
    cli("eval-length-out-folder-named-length-json", lambda sb: (sb.root / "o/length.json").mkdir(parents=True) or [
        "eval", "length", sb.train_run(), "--out", "o", "--threads", "1", "--multiples", "1", "--windows", "1"],
        r"o/length\.json: sonar did not write it and would have to replace it"),
    # an IsADirectoryError traceback once the figures were drawn, with a temporary file left behind
    cli("report-index-html-is-a-folder", lambda sb: (sb.root / sb.run() / "report" / "index.html").mkdir(
        parents=True) or ["report", "run"], r"run/report/index\.html: exists and is not a file, and the report would"
        r" replace it"),
    # the default path was first looked at when the curve was written: an IsADirectoryError traceback after every
    # trial had run
    cli("tune-default-curve-path-is-a-folder", lambda sb: (sb.root / "w/curve-debug-decode-ctx-256-b-1.json").mkdir(
        parents=True) or _TUNE, r"w/curve-debug-decode-ctx-256-b-1\.json \(the curve's default path; --out names"
        r" another\): is a directory"),
    cli("tune-default-curve-path-user-file", _tuned_then_curve_replaced,
        r"curve-debug-decode-ctx-256-b-1\.json \(the curve's default path; --out names another\): exists and is not"
        r" a tuning curve sonar wrote", writes=("w",)),
    # a bad vision value named neither --model nor the file, where a bad text value names both
    cli("plan-vision-layers-negative", lambda sb: ["plan", "--model", _multimodal_dir(
        sb, lambda c: c["vision_config"].update(num_hidden_layers=-1))],
        r"--model 'mm': mm/config\.json: vision num_hidden_layers=-1: must be an integer >= 1"),
    cli("plan-vision-config-null", lambda sb: ["plan", "--model", _multimodal_dir(
        sb, lambda c: c.update(vision_config=None))],
        r"--model 'mm': mm/config\.json: vision_config: expected a JSON object, got NoneType"),
    # "README has no figure blocks ['measured', ...]": no file named, and an opened block said to be missing
    cli("figures-readme-block-unclosed", lambda sb: _figures(sb, "<!-- figures:measured -->\nold figures\n"),
        r"--readme R\.md: <!-- figures:measured --> has no <!-- /figures:measured --> after it"),
    cli("figures-readme-without-blocks", lambda sb: _figures(sb, "no blocks here\n"),
        r"--readme R\.md: README has no figure blocks"),
    # "is not UTF-8: undecodable byte 0x8b at offset 1": nothing said the file was compressed
    cli("train-corpus-gzipped", lambda sb: [
        "train", "--preset", "debug", "--steps", "1", "--out", "o", "--threads", "1", "--tokenizer", "byte",
        "--corpus", sb.file("c.txt.gz", gzip.compress(b"the king and the queen\n" * 200))],
        r"corpus file 'c\.txt\.gz' is gzip-compressed; a corpus is read as plain text: decompress it first"),
    # a train run named where its checkpoint belongs: "no config.json (not a transformers checkpoint directory)",
    # with the checkpoint one folder down
    cli("eval-tasks-train-run-dir", lambda sb: ["eval", "tasks", sb.train_run(), "--threads", "1", "--per-cell", "1"],
        r"trained: no config\.json \(not a transformers checkpoint directory\); its checkpoint is trained/model: pass"
        r" that"),
    cli("tune-checkpoint-train-run-dir", lambda sb: ["tune", "--checkpoint", sb.train_run(), "--trials", "1",
                                                     "--workdir", "w"], r"its checkpoint is trained/model: pass that"),
    # "trained/curve.png: cannot write (Is a directory at trained/.curve.png.xxxx)" once the resumed training had run
    cli("train-resume-curve-png-is-a-folder", lambda sb: [
        "train", "--resume", "--out", _curve_replaced_by_folder(sb), "--steps", "3", "--threads", "1"],
        r"trained/curve\.png: exists and is not a file, and the run writes its curve there"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def test_a_byte_tokenizer_table_records_the_byte_vocabulary():
    # the unused BPE default (4096) was recorded as the training data's vocab_size of a byte-tokenizer table
    from sonar.bench.build import DEFAULT_TRAINER, describe_training, make_trainer

    assert describe_training(make_trainer(DEFAULT_TRAINER, 8, tokenizer="byte"))["data"]["vocab_size"] == 257
    assert describe_training(make_trainer(DEFAULT_TRAINER, 8))["data"]["vocab_size"] == 4096


def test_posttrain_data_and_pairs_with_a_byte_order_mark_are_read(sandbox):
    # an editor's byte-order mark failed the first line as "Unexpected UTF-8 BOM (decode using utf-8-sig)"
    from sonar.posttrain.user_data import read_pairs, read_preferences

    bom = "\ufeff"
    pairs = read_pairs(sandbox.file("d.jsonl", bom + '{"prompt": "a", "response": "b"}\n'))
    preferences = read_preferences(sandbox.file("p.jsonl", bom + '{"prompt": "a", "chosen": "b", "rejected": "c"}\n'))
    assert [(p.prompt, p.response) for p in pairs] == [("a", "b")]
    assert [p.prompt for p in preferences] == ["a"]


def test_a_jsonl_corpus_with_a_byte_order_mark_is_read(sandbox):
    # the mark failed the first record as "c.jsonl:1 is not valid JSON: Unexpected UTF-8 BOM"
    from sonar.data.corpus import load_corpus

    path = sandbox.file("c.jsonl", "\ufeff" + "".join(f'{{"text": "document {i}"}}\n' for i in range(3)))
    assert [d.text for d in load_corpus(path).documents] == ["document 0", "document 1", "document 2"]


def test_an_export_beside_an_empty_folder_is_written(sandbox):
    # a directory holding only an empty folder looked empty, and the rename onto it failed as "Directory not empty"
    (sandbox.root / "ex" / "notes").mkdir(parents=True)
    result = CliRunner().invoke(app, ["export", sandbox.run(), "--best", "--to", "ex"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (sandbox.root / "ex").iterdir()} >= {"notes", "model", "system_config.json"}
