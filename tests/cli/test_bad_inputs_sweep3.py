"""Bad input found by a third sweep (the contract each case must meet: bad_input_cases.py): numbers too large for
a float, YAML whose aliases expand without end, lengths past what a model reads, malformed files a run keeps
beside its model, and flags a run would silently ignore. Each case was a traceback, a hang, a silent acceptance
or a file left behind before it was fixed."""

from __future__ import annotations

import json

import pytest
import yaml
from bad_input_cases import api, check_case, cli, params
from bad_input_sandbox import REAL_SPEC_CHANGES, Sandbox, spec_with

import sonar

NINES = "9" * 400  # float() reads it as inf
# Nine levels of nine references to the level below: 387 million values once expanded, 200 bytes as written.
ALIAS_BOMB = "[&a0 [1,1,1,1,1,1,1,1,1]" + "".join(
    f", &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)) + "]"


def _spec_text(sb: Sandbox, old: str, new: str, changes: dict | None = None) -> str:
    """The base spec as YAML with one line replaced by hand (for what yaml.safe_dump cannot write)."""
    text = yaml.safe_dump(spec_with(changes), sort_keys=False)
    assert old in text
    return sb.file("s.yaml", text.replace(old, new, 1))


def _search(spec) -> callable:
    return lambda sb: ["search", spec(sb), "--out", "run"]


def _space(text: str):
    return lambda sb: ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--max-steps", "8", "--space",
                       sb.file("space.yaml", text)]


def _saved_config_with(**changes):
    def setup(sb: Sandbox):
        ckpt = sb.root / sb.checkpoint()
        config = json.loads((ckpt / "config.json").read_text())
        (ckpt / "config.json").write_text(json.dumps({**config, **changes}))
        return ckpt
    return setup


def _sft(*extra: str) -> list[str]:
    return ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--out", "o", "--threads", "1", *extra]


def _dpo(sb: Sandbox, *extra: str) -> list[str]:
    return ["posttrain", "dpo", "--from", sb.checkpoint(), "--steps", "1", "--out", "o", "--threads", "1", *extra]


def _posttrain_tune(*extra: str) -> list[str]:
    return ["posttrain", "tune", "--preset", "debug", "--out", "o", "--threads", "1", "--sft-steps", "1",
            "--rl-steps", "1", "--dpo-steps", "1", "--seeds", "0", *extra]


PAIRS = '{"prompt": "2+2=", "response": "4"}\n'
LONG_PAIR = json.dumps({"prompt": "a" * 100_000, "response": "b"}) + "\n"


def _eval_length(edit=None):
    """`sonar eval length` on a copy of the trained run, `edit(sb, run)` first spoiling a file in it."""
    def argv(sb: Sandbox) -> list[str]:
        run = sb.train_run()
        if edit is not None:
            edit(sb, run)
        return ["eval", "length", run, "--out", "o", "--threads", "1"]
    return argv


def _foreign_tokenizer(sb: Sandbox, run: str) -> None:
    from tokenizers import Tokenizer, models

    sb.file(f"{run}/model/tokenizer.json", Tokenizer(models.BPE()).to_str())


def _train(*extra: str):
    return lambda sb: ["train", "--preset", "debug", "--out", "r", "--vocab", "300", "--threads", "1", "--steps", "1",
                       "--corpus", str(sb.root / sb.corpus()), *extra]


def _suite(sb: Sandbox, command: str, *extra: str) -> list[str]:
    return ["bench", command, sb.table(), "--seeds", "1", "--jobs", "1", *extra]


CASES = [
    # numbers that overflow a float to inf on their way to an int
    cli("plan-gpu-capacity-400-digits", ["plan", "--model", "scout", "--gpu", NINES + "GB"],
        r"--gpu '9+GB': GPU capacity: inf bytes; at most 1,000,000 GB"),
    cli("plan-gpu-capacity-bytes-400-digits", ["plan", "--model", "scout", "--gpu", NINES], r"at most 1,000,000 GB"),
    cli("plan-gpu-capacity-huge", ["plan", "--model", "scout", "--gpu", "99999999999999999999999GB"],
        r"--gpu '9+GB': GPU capacity: 1e\+32 bytes; at most 1,000,000 GB"),
    cli("plan-context-400-digits", ["plan", "--model", "scout", "--context", NINES],
        r"--context '9+': at most 1,099,511,627,776 tokens"),
    cli("plan-table-context-400-digits-k", ["plan", "--table", "--context", NINES + "K"],
        r"--context '9+K': at most 1,099,511,627,776 tokens"),
    # YAML a few hundred bytes long that expands past any memory, or without end
    cli("search-spec-alias-bomb", _search(lambda sb: _spec_text(sb, "seed: 0", "seed: " + ALIAS_BOMB)),
        r"s\.yaml: .*aliases expand the document to more than 1,000,000 values"),
    cli("search-spec-alias-to-itself", _search(lambda sb: _spec_text(sb, "name: bad-inputs", "name: &r [*r]")),
        r"s\.yaml: .*an alias at line 1 refers to a node that holds it"),
    cli("bench-build-space-alias-bomb", _space("hidden_size: " + ALIAS_BOMB + "\n"),
        r"--space space\.yaml: .*aliases expand the document"),
    cli("bench-build-space-too-large", _space("hidden_size: [32, 64]\n#" + "x" * (1 << 20) + "\n"),
        r"--space space\.yaml: .*1,048,600 characters; a YAML file sonar reads may have at most 1,048,576"),
    cli("search-spec-thousands-of-targets", lambda sb: ["search", sb.spec(
        {"targets": [{"name": f"t{i}"} for i in range(65)]}), "--out", "run"], r"targets: 65 targets; at most 64"),
    # a checkpoint's config.json with a flag that bool() would misread
    api("api-load-attn-temperature-tuning-word", sonar.load_pretrained, r"attn_temperature_tuning='no'",
        setup=_saved_config_with(attn_temperature_tuning="no")),
    api("api-preset-unhashable", lambda _: sonar.preset(["debug"]), r"unknown preset \['debug'\]"),
    # lengths past the model's positions: each ran one forward or step for hours
    cli("posttrain-sft-data-longer-than-the-model", lambda sb: _sft("--data", sb.file("d.jsonl", PAIRS + LONG_PAIR)),
        r"example 2: its prompt and reply are 100,0\d\d tokens.*at most 4,096 \(max_position_embeddings\)"),
    cli("posttrain-dpo-pairs-longer-than-the-model", lambda sb: _dpo(sb, "--pairs", sb.file("p.jsonl", json.dumps(
        {"prompt": "a", "chosen": "b" * 100_000, "rejected": "c"}) + "\n")), r"pair 1 \(chosen\): .*at most 4,096"),
    cli("tune-workload-past-the-model", ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w", "--workload",
                                         "decode:ctx=100000"],
        r"^error: --workload 'decode:ctx=100000': --preset 'debug' reads at most 4,096 positions.*100,032"),
    cli("tune-prefill-past-the-model", ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w", "--workload",
                                        "prefill:t=5000"], r"reads at most 4,096 positions.*prefill of 5,000"),
    cli("bench-tune-workload-past-the-model", ["bench", "tune", "--archs", "tiny", "--trials", "1", "--workdir", "w",
                                               "--workload", "decode:ctx=1000000"], r"tiny reads at most 8,192"),
    cli("search-real-workload-past-the-model", lambda sb: ["search", sb.spec(
        {**REAL_SPEC_CHANGES, "workload": {"kind": "decode", "context": 100_000}}), "--out", "run"],
        r"workload: .*a candidate reads at most 4,096 positions"),
    cli("train-seq-len-past-the-model", _train("--seq-len", "5000"),
        r"--seq-len 5000: preset 'debug' reads at most 4,096 positions"),
    cli("bench-train-seq-len-past-the-model", ["bench", "train", "--presets", "debug", "--steps", "1", "--seq-len",
                                               "100000"], r"--seq-len 100000: preset 'debug' reads at most 4,096"),
    cli("train-resume-seq-len-past-the-model", lambda sb: ["train", "--preset", "debug", "--out", sb.train_run(),
                                                           "--resume", "--steps", "4", "--seq-len", "5000",
                                                           "--threads", "1"], r"--seq-len 5000: preset 'debug'"),
    cli("train-seq-len-past-the-corpus", _train("--seq-len", "4000"),  # left r/train_config.json behind
        r"the training split has \d+ tokens: fewer than seq_len\+1=4001"),
    cli("posttrain-tune-rl-rate-inf", _posttrain_tune("--rl-lrs", "inf"),
        r"--rl-lrs 'inf': each rate must be a finite number > 0"),
    cli("posttrain-tune-rl-rate-huge", _posttrain_tune("--rl-lrs", "1e-4,100"), r"lr=100\.0: .*at most 10"),
    # flags a run would ignore without a word
    cli("posttrain-sft-prune-quantile-without-loss", _sft("--prune-quantile", "0.9"),
        r"--prune-quantile 0\.9: not used with --prune none \(it applies to --prune loss\)"),
    cli("posttrain-sft-data-with-tasks", lambda sb: _sft("--data", sb.file("d.jsonl", PAIRS), "--tasks", "sort"),
        r"--tasks 'sort': not used with --data"),
    cli("posttrain-distill-data-with-per-cell", lambda sb: [
        "posttrain", "distill", "--teacher", sb.checkpoint(), "--preset", "debug", "--steps", "1", "--out", "o",
        "--data", sb.file("d.jsonl", PAIRS), "--per-cell", "3"], r"--per-cell 3: not used with --data"),
    cli("posttrain-dpo-pairs-with-levels", lambda sb: _dpo(sb, "--pairs", sb.file(
        "p.jsonl", '{"prompt": "a", "chosen": "b", "rejected": "c"}\n'), "--levels", "1"),
        r"--levels '1': not used with --pairs"),
    # files a `sonar train` run keeps beside its model, spoiled
    cli("eval-length-tokenizer-not-json", _eval_length(lambda sb, run: sb.file(f"{run}/model/tokenizer.json", "{bad")),
        r"trained/model/tokenizer\.json: not a readable tokenizer\.json"),
    cli("eval-length-tokenizer-binary", _eval_length(lambda sb, run: sb.file(f"{run}/model/tokenizer.json",
                                                                            b"\xff\xfe\x00garbage")),
        r"tokenizer\.json: not a readable tokenizer\.json"),
    cli("eval-length-tokenizer-foreign", _eval_length(_foreign_tokenizer),
        r"tokenizer\.json: this tokenizer has no <\|endoftext\|> token"),
    cli("eval-length-settings-seq-len-word", _eval_length(lambda sb, run: sb.file(
        f"{run}/train_config.json", '{"seq_len": "x"}')), r"train_config\.json: .*'seq_len' is 'x'"),
    cli("eval-length-settings-data-list", _eval_length(lambda sb, run: sb.file(
        f"{run}/train_config.json", '{"seq_len": 16, "data": [1]}')), r"train_config\.json: .*'data' is \[1\]"),
    cli("eval-length-settings-val-fraction-word", _eval_length(lambda sb, run: sb.file(
        f"{run}/train_config.json", '{"seq_len": 16, "data": {"val_fraction": "x"}}')),
        r"train_config\.json: .*val_fraction='x'"),
    # an --out that names no file
    cli("suite-out-dot", lambda sb: _suite(sb, "suite", "--methods", "random", "--out", "."),
        r"--out \.: names a directory, not a file"),
    cli("ablate-one-table", lambda sb: _suite(sb, "ablate", "--out", "a.json"),
        r"one table given: each rule is judged leave-one-table-out"),
    cli("ablate-out-root", lambda sb: _suite(sb, "ablate", "--out", "/"), r"--out /: names a directory, not a file"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)
