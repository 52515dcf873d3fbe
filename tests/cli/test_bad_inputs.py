"""Bad input, tried as a new user would, on every command and on the Python API (the contract each
case must meet: bad_input_cases.py)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
from collections.abc import Callable

import pytest
import torch
from bad_input_cases import Case, api, check_case, cli, overridden, params
from bad_input_sandbox import Sandbox
from typer.testing import CliRunner

import sonar
from crafted_pickle import write_crafted_checkpoint

# -- helpers that spoil a valid artefact -----------------------------------------------------------------


def _db(sb: Sandbox, content: bytes | None) -> str:
    """A copy of the finished run whose search.db is replaced (None: removed)."""
    run = sb.run()
    (sb.root / run / "search.db").unlink()
    for extra in ("search.db-wal", "search.db-shm"):
        (sb.root / run / extra).unlink(missing_ok=True)
    if content is not None:
        (sb.root / run / "search.db").write_bytes(content)
    return run


def _foreign_db(sb: Sandbox) -> str:
    run = _db(sb, None)
    db = sqlite3.connect(sb.root / run / "search.db")
    db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    db.execute("INSERT INTO photos (path) VALUES ('holiday.jpg')")
    db.commit()
    db.close()
    return run


def _truncated_db(sb: Sandbox) -> str:
    run = sb.run()
    path = sb.root / run / "search.db"
    path.write_bytes(path.read_bytes()[:3000])
    return run


def _bad_json_row(sb: Sandbox, payload: str = "{not json") -> str:
    """A copy of the finished run whose last event's JSON is replaced by `payload`."""
    run = sb.run()
    db = sqlite3.connect(sb.root / run / "search.db")
    table = next(name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                 if "event" in name)
    columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    text_column = next(c for c in columns if c in ("payload", "data", "body", "json"))
    db.execute(f"UPDATE {table} SET {text_column} = ? WHERE rowid = (SELECT MAX(rowid) FROM {table})", (payload,))
    db.commit()
    db.close()
    return run


def _read_only_run(sb: Sandbox) -> str:
    run = sb.run()
    for dirpath, _, filenames in os.walk(sb.root / run):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), stat.S_IRUSR)
        os.chmod(dirpath, stat.S_IRUSR | stat.S_IXUSR)
    return run


def _user_dir(sb: Sandbox, name: str = "mine") -> str:
    sb.file(f"{name}/thesis.tex", "years of work\n")
    return name


def _ckpt_with(sb: Sandbox, *, config: bytes | None = None, weights: bytes | None = None) -> str:
    ckpt = sb.checkpoint()
    if config is not None:
        (sb.root / ckpt / "config.json").write_bytes(config)
    if weights is not None:
        (sb.root / ckpt / "model.safetensors").write_bytes(weights)
    return ckpt


def _truncated_weights(sb: Sandbox) -> str:
    ckpt = sb.checkpoint()
    path = sb.root / ckpt / "model.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    return ckpt


def _table_with(sb: Sandbox, content: bytes) -> str:
    return sb.file("table.jsonl", content)


def _table_lines(sb: Sandbox, edit) -> str:
    name = sb.table()
    lines = (sb.root / name).read_text().splitlines()
    (sb.root / name).write_text("\n".join(edit(lines)) + "\n")
    return name


def _header_edit(**changes_):
    def edit(lines):
        header = json.loads(lines[0])
        header.update(changes_)
        return [json.dumps(header), *lines[1:]]
    return edit


def _crafted_train_state(sb: Sandbox) -> str:
    run = sb.train_run()
    write_crafted_checkpoint(sb.root / run / "state" / "train_state.pt", sb.root / "PWNED")
    return run


def _no_payload(sb: Sandbox) -> None:
    assert not (sb.root / "PWNED").exists(), "a pickle payload in a received file ran"


def _train(run: str, *extra: str) -> list[str]:
    return overridden(["train", "--preset", "debug", "--out", run, "--vocab", "300", "--threads", "1"], *extra)


def _corpus_flag(sb: Sandbox) -> str:
    return str(sb.root / sb.corpus())


def _resume(sb: Sandbox, *extra: str) -> list[str]:
    return _train(sb.train_run(), "--resume", *extra)


# -- the table ---------------------------------------------------------------------------------------------

GENERAL = [
    cli("no-such-command", ["frobnicate"], r"frobnicate"),
    cli("no-such-option", ["--frobnicate"], r"--frobnicate"),
    cli("no-such-bench", ["bench", "frobnicate"], r"frobnicate"),
    cli("option-on-wrong-command", ["status", "--to", "x"], r"--to"),
]

PLAN = [cli(f"plan-{flag.strip('-')}-{value or 'empty'}", ["plan", "--model", "scout", flag, value], expect)
        for flag, value, expect in [
            ("--gpus", "0", r"--gpus 0"),
            ("--gpus", "-2", r"--gpus -2"),
            ("--gpus", "two", r"--gpus"),
            ("--batch", "0", r"--batch 0"),
            ("--batch", "-1", r"--batch -1"),
            ("--batch", "1.5", r"--batch"),
            ("--context", "-5", r"--context '-5'"),
            ("--context", "abc", r"--context 'abc'"),
            ("--context", "0", r"--context '0'"),
            ("--context", "", r"--context"),
            ("--context", "99999999999999999999M", r"--context"),
            ("--weights", "int2", r"'int2'"),
            ("--weights", "", r"--weights '': unknown weight format"),
            ("--kv-dtype", "int4", r"'int4'"),
            ("--gpu", "h100-90gb", r"'h100-90gb'"),
            ("--gpu", "0GB", r"0GB"),
            ("--gpu", "-5GB", r"-5GB"),
            ("--gpu", "GB", r"'GB'"),
            ("--reserve-gb", "-1", r"--reserve-gb -1"),
            ("--reserve-gb", "nan", r"--reserve-gb nan"),
            ("--reserve-gb", "inf", r"--reserve-gb inf"),
            ("--prefill-tokens", "0", r"--prefill-tokens 0"),
            ("--prefill-tokens", "-8", r"--prefill-tokens -8"),
        ]] + [
    cli("plan-no-model", ["plan"], r"--model is required"),
    cli("plan-unknown-model", ["plan", "--model", "llama5"], r"'llama5'"),
    cli("plan-model-is-empty-dir", lambda sb: ["plan", "--model", _user_dir(sb, "empty") and "empty"], r"empty"),
    cli("plan-config-invalid-json", lambda sb: ["plan", "--model", sb.file("c/config.json", "{nope")],
        r"config\.json"),
    cli("plan-config-empty", lambda sb: ["plan", "--model", sb.file("c/config.json", "")], r"config\.json"),
    cli("plan-config-list-root", lambda sb: ["plan", "--model", sb.file("c/config.json", "[1, 2]")],
        r"config\.json"),
    cli("plan-config-missing-keys", lambda sb: ["plan", "--model", sb.file("c/config.json", '{"a": 1}')],
        r"config\.json"),
    cli("plan-config-binary", lambda sb: ["plan", "--model", sb.file("c/config.json", b"\xff\xfe\x00\x01")],
        r"config\.json"),
    cli("plan-config-negative-size", lambda sb: ["plan", "--model", sb.file("c/config.json", json.dumps(
        {**json.loads((sb.artefacts.checkpoint / "config.json").read_text()), "hidden_size": -64}))],
        r"hidden_size"),
    cli("plan-table-gpu-counts-words", ["plan", "--table", "--gpu-counts", "a,b"], r"--gpu-counts"),
    cli("plan-table-gpu-counts-zero", ["plan", "--table", "--gpu-counts", "0,1"], r"--gpu-counts"),
    cli("plan-table-gpu-counts-empty", ["plan", "--table", "--gpu-counts", ""], r"--gpu-counts"),
    cli("plan-table-unknown-model", ["plan", "--table", "--model", "llama5"], r"'llama5'"),
]

SEARCH_SPECS = [
    ("spec-unknown-top-key", {"colour": "blue"}, r"colour"),
    ("spec-name-mapping", {"name": {"a": 1}}, r"name"),
    ("spec-arch-choice-word", {"arch.hidden_size": [32, "big"]}, r"hidden_size"),
    ("spec-arch-huge-layers", {"arch.num_hidden_layers": [1_000_000_000_000]}, r"num_hidden_layers"),
    ("spec-arch-huge-hidden", {"arch.hidden_size": [2 ** 40]}, r"hidden_size"),
    ("spec-arch-unknown-field", {"arch.hidden_sise": [32]}, r"hidden_sise"),
    ("spec-arch-empty-choices", {"arch.hidden_size": []}, r"hidden_size"),
    ("spec-arch-base-unknown", {"arch.base": "llama5"}, r"llama5"),
    ("spec-rule-power", {"arch.rules": ["hidden_size ** 10 ** 9 > 0"]}, r"\*\*|power|exponent"),
    ("spec-rule-string-repeat", {"arch.rules": ["len('a' * 10 ** 10) > 0"]}, r"rules"),
    ("spec-rule-syntax", {"arch.rules": ["hidden_size >>> 2"]}, r"rules"),
    ("spec-rule-unknown-name", {"arch.rules": ["hidden_sise > 2"]}, r"hidden_sise"),
    ("spec-rule-import", {"arch.rules": ["__import__('os').system('true')"]}, r"rules"),
    ("spec-rule-never-holds", {"arch.rules": ["hidden_size < 0"]}, r"rule|candidate|draw"),
    ("spec-training-typo", {"training": {"batchsize": 4}}, r"batchsize"),
    ("spec-training-negative-lr", {"training": {"lr": -1}}, r"lr"),
    ("spec-data-path-key", {"data": {"path": "corpus.txt"}}, r"path"),
    ("spec-data-missing-corpus", {"data": {"corpus": "no/such/corpus.txt"}}, r"no/such/corpus\.txt"),
    ("spec-data-unknown-tokenizer", {"data": {"corpus": "builtin", "tokenizer": "words"}}, r"words"),
    ("spec-synthetic-eval-zero", {"synthetic": {"noise": 0.01, "eval_every": 0}}, r"eval_every"),
    ("spec-synthetic-unknown", {"synthetic": {"nosie": 0.01}}, r"nosie"),
    ("spec-latency-inf", {"objective": {"kind": "constraint", "latency_s": float("inf")}}, r"latency_s"),
    ("spec-latency-negative", {"objective": {"kind": "constraint", "latency_s": -1}}, r"latency_s"),
    ("spec-latency-word", {"objective": {"kind": "constraint", "latency_s": "fast"}}, r"latency_s"),
    ("spec-objective-kind", {"objective": {"kind": "fastest"}}, r"fastest"),
    ("spec-system-threads-word", {"system": {"schemes": ["fp32"], "threads": ["many"]}}, r"threads"),
    ("spec-system-unknown-scheme", {"system": {"schemes": ["fp3"]}}, r"fp3"),
    ("spec-system-unknown-knob", {"system": {"turbo": [True]}}, r"turbo"),
    ("spec-target-tpu", {"targets": [{"name": "t", "device": "tpu"}]}, r"tpu"),
    ("spec-targets-empty", {"targets": []}, r"targets"),
    ("spec-workload-kind", {"workload": {"kind": "dance"}}, r"dance"),
    ("spec-workload-context-zero", {"workload": {"kind": "decode", "context": 0, "batch": 1}}, r"context"),
    ("spec-budget-candidates-zero", {"budget.candidates": 0}, r"candidates"),
    ("spec-budget-min-above-max", {"budget.min_steps": 100}, r"min_steps|max_steps"),
    ("spec-budget-cost-negative", {"budget.cost_s": -5}, r"cost_s"),
    ("spec-eta-one", {"eta": 1}, r"eta"),
    ("spec-seed-word", {"seed": "lucky"}, r"seed"),
    ("spec-scheduler", {"scheduler": "magic"}, r"magic"),
    ("spec-executor-kind", {"executor": {"kind": "cloud", "workers": 1}}, r"cloud"),
    ("spec-executor-workers-zero", {"executor": {"kind": "simulated", "workers": 0}}, r"workers"),
    ("spec-backend", {"backend": "quantum"}, r"quantum"),
]

SEARCH = [cli(id, lambda sb, c=changes_: ["search", sb.spec(c), "--out", "run"], expect)
          for id, changes_, expect in SEARCH_SPECS] + [
    cli("spec-real-training-typo", lambda sb: ["search", sb.spec({**_real(), "training": {"batchsize": 4}}),
                                               "--out", "run"], r"batchsize"),
    cli("spec-real-missing-corpus", lambda sb: ["search", sb.spec({**_real(), "data": {"corpus": "gone.txt"}}),
                                                "--out", "run"], r"gone\.txt"),
    cli("spec-real-byte-tokenizer-small-vocab", lambda sb: ["search", sb.spec(
        {**_real(), "data": {"corpus": "builtin", "tokenizer": "byte"}, "arch.vocab_size": 64}), "--out", "run"],
        r"vocab|tokenizer"),
    cli("search-missing-spec", ["search", "nope.yaml", "--out", "run"], r"nope\.yaml"),
    cli("search-spec-is-dir", lambda sb: ["search", _user_dir(sb), "--out", "run"], r"mine"),
    cli("search-spec-empty", lambda sb: ["search", sb.file("s.yaml", ""), "--out", "run"], r"s\.yaml"),
    cli("search-spec-yaml-error", lambda sb: ["search", sb.file("s.yaml", "name: [unclosed\n"), "--out", "run"],
        r"s\.yaml"),
    cli("search-spec-list", lambda sb: ["search", sb.file("s.yaml", "- 1\n- 2\n"), "--out", "run"], r"s\.yaml"),
    cli("search-spec-latin1", lambda sb: ["search", sb.file("s.yaml", "name: caf\xe9\n".encode("latin-1")),
                                          "--out", "run"], r"UTF-8"),
    cli("search-spec-binary", lambda sb: ["search", sb.file("s.yaml", os.urandom(64)), "--out", "run"], r"s\.yaml"),
    cli("search-spec-scalar", lambda sb: ["search", sb.file("s.yaml", "42\n"), "--out", "run"], r"s\.yaml"),
    cli("search-no-arguments", ["search"], r"CONFIG|--resume"),
    cli("search-config-and-resume", lambda sb: ["search", sb.spec(), "--out", "x", "--resume", sb.run()],
        r"--resume"),
    cli("search-no-out", lambda sb: ["search", sb.spec()], r"--out"),
    cli("search-out-is-spec", lambda sb: ["search", sb.spec(name="good.yaml"), "--out", "good.yaml"],
        r"good\.yaml"),
    cli("search-out-user-dir", lambda sb: ["search", sb.spec(), "--out", _user_dir(sb)], r"mine"),
    cli("search-out-dot", lambda sb: ["search", sb.spec(), "--out", "."], r"'\.'|\. |empty|directory"),
    cli("search-out-home", lambda sb: ["search", sb.spec(), "--out", str(sb.root / "home")], r"home"),
    cli("search-out-is-file", lambda sb: ["search", sb.spec(), "--out", sb.file("f.txt", "mine")], r"f\.txt"),
    cli("search-bad-executor-flag", lambda sb: ["search", sb.spec(), "--out", "run", "--executor", "cloud"],
        r"cloud"),
    cli("search-bad-backend-flag", lambda sb: ["search", sb.spec(), "--out", "run", "--backend", "quantum"],
        r"quantum"),
    cli("search-workers-zero", lambda sb: ["search", sb.spec(), "--out", "run", "--workers", "0"], r"workers"),
    cli("search-workers-negative", lambda sb: ["search", sb.spec(), "--out", "run", "--workers", "-3"],
        r"workers"),
    cli("search-workers-word", lambda sb: ["search", sb.spec(), "--out", "run", "--workers", "many"], r"workers"),
    cli("resume-missing-dir", ["search", "--resume", "nowhere"], r"nowhere"),
    cli("resume-user-dir", lambda sb: ["search", "--resume", _user_dir(sb)], r"mine"),
    cli("resume-no-db", lambda sb: ["search", "--resume", _db(sb, None)], r"search\.db|not a search"),
    cli("resume-empty-db", lambda sb: ["search", "--resume", _db(sb, b"")], r"search\.db"),
    cli("resume-random-db", lambda sb: ["search", "--resume", _db(sb, os.urandom(4096))], r"search\.db"),
    cli("resume-foreign-db", lambda sb: ["search", "--resume", _foreign_db(sb)], r"search\.db"),
    cli("resume-truncated-db", lambda sb: ["search", "--resume", _truncated_db(sb)], r"search\.db"),
    cli("resume-bad-json-row", lambda sb: ["search", "--resume", _bad_json_row(sb)], r"search\.db|JSON|event"),
    cli("resume-with-workers", lambda sb: ["search", "--resume", sb.run(), "--workers", "2"], r"--workers"),
    cli("resume-bad-backend", lambda sb: ["search", "--resume", sb.run(), "--backend", "quantum"], r"quantum"),
]


def _real() -> dict:
    from bad_input_sandbox import REAL_SPEC_CHANGES
    return dict(REAL_SPEC_CHANGES)


def _readers(command: str, extra: tuple[str, ...] = ()) -> list[Case]:
    """The corrupt-run cases every command that reads a run directory must survive."""
    return [
        cli(f"{command}-missing-dir", [command, "nowhere", *extra], r"nowhere"),
        cli(f"{command}-user-dir", lambda sb: [command, _user_dir(sb), *extra], r"mine"),
        cli(f"{command}-a-file", lambda sb: [command, sb.file("f.txt", "hi"), *extra], r"f\.txt"),
        cli(f"{command}-no-db", lambda sb: [command, _db(sb, None), *extra], r"search\.db|not a search"),
        cli(f"{command}-empty-db", lambda sb: [command, _db(sb, b""), *extra], r"search\.db"),
        cli(f"{command}-random-db", lambda sb: [command, _db(sb, os.urandom(4096)), *extra], r"search\.db"),
        cli(f"{command}-foreign-db", lambda sb: [command, _foreign_db(sb), *extra], r"search\.db"),
        cli(f"{command}-truncated-db", lambda sb: [command, _truncated_db(sb), *extra], r"search\.db"),
        cli(f"{command}-bad-json-row", lambda sb: [command, _bad_json_row(sb), *extra], r"search\.db|JSON|event"),
    ]


STATUS = _readers("status") + [
    cli("status-read-only-run", lambda sb: ["status", _read_only_run(sb)], "", ok=True),
    cli("status-read-only-run-json", lambda sb: ["status", _read_only_run(sb), "--json"], "", ok=True),
]
REPORT = _readers("report")
EXPORT = _readers("export", ("--best", "--to", "out")) + [
    cli("export-without-best", lambda sb: ["export", sb.run(), "--to", "out"], r"--best"),
    cli("export-without-to", lambda sb: ["export", sb.run(), "--best"], r"--to"),
    cli("export-to-parent", lambda sb: ["export", sb.run("w/run"), "--best", "--to", ".."], r"'\.\.'|\.\."),
    cli("export-to-dot", lambda sb: ["export", sb.run(), "--best", "--to", "."], r"\."),
    cli("export-to-root", lambda sb: ["export", sb.run(), "--best", "--to", "/"], r"'/'|/"),
    cli("export-to-home", lambda sb: ["export", sb.run(), "--best", "--to", str(sb.root / "home")], r"home"),
    cli("export-to-run-dir", lambda sb: ["export", sb.run(), "--best", "--to", "run"], r"run"),
    cli("export-to-user-dir", lambda sb: ["export", sb.run(), "--best", "--to", _user_dir(sb)], r"mine"),
    cli("export-to-a-file", lambda sb: ["export", sb.run(), "--best", "--to", sb.file("f.txt", "mine")],
        r"f\.txt"),
    cli("export-to-read-only-dir", lambda sb: ["export", sb.run(), "--best", "--to", _read_only_dir(sb)],
        r"locked|permission|read-only|writ", permissions=True),
]


def _read_only_dir(sb: Sandbox) -> str:
    (sb.root / "locked").mkdir()
    os.chmod(sb.root / "locked", stat.S_IRUSR | stat.S_IXUSR)
    return "locked/out"


TRAIN = [
    cli("train-unknown-preset", ["train", "--preset", "llama5", "--steps", "1"], r"llama5"),
    cli("train-steps-zero", lambda sb: _train("r", "--steps", "0", "--corpus", _corpus_flag(sb)), r"steps"),
    cli("train-steps-negative", lambda sb: _train("r", "--steps", "-5", "--corpus", _corpus_flag(sb)), r"steps"),
    cli("train-steps-word", lambda sb: _train("r", "--steps", "many"), r"--steps"),
    cli("train-vocab-zero", lambda sb: _train("r", "--steps", "1", "--corpus", _corpus_flag(sb), "--vocab", "0"),
        r"vocab"),
    cli("train-tokenizer-unknown", lambda sb: _train("r", "--steps", "1", "--corpus", _corpus_flag(sb),
                                                      "--tokenizer", "words"), r"words"),
    cli("train-corpus-missing", lambda sb: _train("r", "--steps", "1", "--corpus", "gone.txt"), r"gone\.txt"),
    cli("train-corpus-empty-file", lambda sb: _train("r", "--steps", "1", "--corpus", sb.file("e.txt", "")),
        r"e\.txt"),
    cli("train-corpus-empty-dir", lambda sb: _train("r", "--steps", "1", "--corpus", _empty_dir(sb)), r"empty"),
    cli("train-corpus-binary", lambda sb: _train("r", "--steps", "1", "--corpus",
                                                  sb.file("b.txt", bytes(range(256)) * 4)), r"b\.txt"),
    cli("train-corpus-bad-jsonl", lambda sb: _train("r", "--steps", "1", "--corpus", sb.file("c.jsonl", "{no\n")),
        r"c\.jsonl"),
    cli("train-threads-zero", lambda sb: _train("r", "--steps", "1", "--corpus", _corpus_flag(sb), "--threads",
                                                 "0"), r"threads"),
    cli("train-out-is-file", lambda sb: _train(sb.file("f.txt", "mine"), "--steps", "1", "--corpus",
                                                _corpus_flag(sb)), r"f\.txt"),
    cli("train-out-user-dir", lambda sb: _train(_user_dir(sb), "--steps", "1", "--corpus", _corpus_flag(sb)),
        r"mine"),
    cli("train-existing-run-without-resume", lambda sb: _train(sb.train_run(), "--steps", "3", "--corpus",
                                                               _corpus_flag(sb)), r"--resume"),
    cli("train-resume-nothing", lambda sb: _train("r", "--steps", "3", "--resume"), r"--resume"),
    cli("train-resume-other-tokenizer", lambda sb: _resume(sb, "--steps", "3", "--tokenizer", "byte"),
        r"tokenizer"),
    cli("train-resume-other-corpus", lambda sb: _resume(sb, "--steps", "3", "--corpus", _corpus_flag(sb)),
        r"corpus"),
    cli("train-resume-steps-below-saved", lambda sb: _resume(sb, "--steps", "1"), r"steps"),
    cli("train-resume-other-vocab", lambda sb: _resume(sb, "--steps", "3", "--vocab", "400"), r"vocab"),
    cli("train-resume-crafted-pickle", lambda sb: _train(_crafted_train_state(sb), "--steps", "3", "--resume"),
        r"train_state\.pt", check=_no_payload),
    cli("train-resume-corrupt-state", lambda sb: _train(_spoil(sb, "trained", "state/train_state.pt", b"\x00" * 64),
                                                        "--steps", "3", "--resume"),
        r"train_state\.pt"),
    cli("train-resume-corrupt-settings", lambda sb: _train(_spoil(sb, "trained", "train_config.json", b"{oops"),
                                                           "--steps", "3", "--resume"), r"train_config\.json"),
    cli("train-resume-settings-list", lambda sb: _train(_spoil(sb, "trained", "train_config.json", b"[]"),
                                                        "--steps", "3", "--resume"), r"train_config\.json"),
    cli("bench-train-steps-zero", ["bench", "train", "--presets", "debug", "--steps", "0"], r"steps"),
    cli("bench-train-unknown-preset", ["bench", "train", "--presets", "llama5", "--steps", "1"], r"llama5"),
    cli("bench-train-no-presets", ["bench", "train", "--presets", ",", "--steps", "1"], r"preset"),
    cli("bench-train-threads-zero", ["bench", "train", "--presets", "debug", "--steps", "1", "--threads", "0"],
        r"threads"),
]


def _empty_dir(sb: Sandbox) -> str:
    (sb.root / "empty").mkdir()
    return "empty"


def _spoil(sb: Sandbox, artefact: str, relative: str, content: bytes) -> str:
    run = getattr(sb, "train_run" if artefact == "trained" else artefact)()
    (sb.root / run / relative).write_bytes(content)
    return run


def _tune(*extra: str) -> list[str]:
    return overridden(["tune", "--trials", "1", "--workdir", "w"], *extra)


TUNE = [
    cli("tune-no-model", _tune(), r"exactly one"),
    cli("tune-both-models", lambda sb: _tune("--preset", "debug", "--checkpoint", sb.checkpoint()), r"exactly one"),
    cli("tune-unknown-preset", _tune("--preset", "llama5"), r"llama5"),
    cli("tune-trials-zero", ["tune", "--preset", "debug", "--trials", "0", "--workdir", "w"], r"trials"),
    cli("tune-workload-kind", _tune("--preset", "debug", "--workload", "dance:ctx=1"), r"dance"),
    cli("tune-workload-bad-number", _tune("--preset", "debug", "--workload", "decode:ctx=x"), r"ctx"),
    cli("tune-workload-zero-batch", _tune("--preset", "debug", "--workload", "prefill:b=0,t=8"), r"b"),
    cli("tune-workload-empty", _tune("--preset", "debug", "--workload", ""), r"workload"),
    cli("tune-workload-huge-batch", _tune("--preset", "debug", "--workload", "decode:ctx=8,b=100000"), r"4,096"),
    cli("tune-workload-huge-context", _tune("--preset", "debug", "--workload", "decode:ctx=1000000000"),
        r"ctx|context"),
    cli("tune-workload-other-digits", _tune("--preset", "debug", "--workload", "decode:ctx=\u0668"), r"ctx"),
    cli("tune-out-user-file", lambda sb: _tune("--preset", "debug", "--out", sb.file("notes.txt", "mine\n")),
        r"not a tuning curve"),
    cli("tune-out-checkpoint-weights", lambda sb: _tune("--preset", "debug", "--out",
                                                        f"{sb.checkpoint()}/model.safetensors"), r"not a tuning curve"),
    cli("tune-compile-unknown", _tune("--preset", "debug", "--compile", "warp"), r"warp"),
    cli("tune-quality-negative", _tune("--preset", "debug", "--quality-limit", "-1"), r"quality"),
    cli("tune-checkpoint-missing", _tune("--checkpoint", "gone"), r"gone"),
    cli("tune-checkpoint-user-dir", lambda sb: _tune("--checkpoint", _user_dir(sb)), r"mine|config\.json"),
    cli("tune-config-invalid", lambda sb: _tune("--checkpoint", _ckpt_with(sb, config=b"{nope")), r"config\.json"),
    cli("tune-config-empty", lambda sb: _tune("--checkpoint", _ckpt_with(sb, config=b"")), r"config\.json"),
    cli("tune-config-list", lambda sb: _tune("--checkpoint", _ckpt_with(sb, config=b"[1]")), r"config\.json"),
    cli("tune-config-foreign", lambda sb: _tune("--checkpoint", _ckpt_with(sb, config=b'{"model_type": "bert"}')),
        r"config\.json|bert"),
    cli("tune-weights-truncated", lambda sb: _tune("--checkpoint", _truncated_weights(sb)), r"safetensors"),
    cli("tune-weights-random", lambda sb: _tune("--checkpoint", _ckpt_with(sb, weights=os.urandom(2048))),
        r"safetensors"),
    cli("tune-weights-missing", lambda sb: _tune("--checkpoint", _drop(sb, "model.safetensors")),
        r"safetensors|weights"),
    cli("tune-corrupt-prior", lambda sb: _tune("--preset", "debug") if sb.file("w/systems-prior.json", "{bad")
        else [], r"systems-prior\.json", writes=("w",)),
    cli("tune-prior-list", lambda sb: _tune("--preset", "debug") if sb.file("w/systems-prior.json", "[1, 2]")
        else [], r"systems-prior\.json", writes=("w",)),
    cli("tune-corrupt-state", lambda sb: _tune("--preset", "debug") if sb.file(
        "w/debug/systems/tune-decode-ctx-256-b-1.json", "{bad") else [], r"tune-decode-ctx-256-b-1\.json",
        writes=("w",)),
    cli("bench-tune-unknown-arch", ["bench", "tune", "--archs", "llama5", "--trials", "1", "--workdir", "w"],
        r"llama5"),
    cli("bench-tune-trials-zero", ["bench", "tune", "--archs", "tiny", "--trials", "0", "--workdir", "w"],
        r"trials"),
    cli("bench-tune-workload", ["bench", "tune", "--archs", "tiny", "--trials", "1", "--workload", "dance",
                                "--workdir", "w"], r"dance"),
    cli("bench-tune-quality-negative", ["bench", "tune", "--archs", "tiny", "--trials", "1", "--quality-limit",
                                        "-1", "--workdir", "w"], r"quality"),
]


def _drop(sb: Sandbox, name: str) -> str:
    ckpt = sb.checkpoint()
    (sb.root / ckpt / name).unlink()
    return ckpt


BENCH = [
    cli("bench-build-out-exists", lambda sb: ["bench", "build", "--synthetic", "--out", sb.table()], r"exists"),
    cli("bench-build-out-folder", ["bench", "build", "--synthetic", "--out", "new/"],
        r"one \.jsonl or \.jsonl\.gz file"),
    cli("bench-build-out-dir-exists", lambda sb: ["bench", "build", "--synthetic", "--out", _user_dir(sb)],
        r"one \.jsonl or \.jsonl\.gz file"),
    cli("bench-build-candidates-zero", ["bench", "build", "--synthetic", "--out", "t.jsonl", "--candidates", "0"],
        r"candidates"),
    cli("bench-build-max-steps-zero", ["bench", "build", "--synthetic", "--out", "t.jsonl", "--max-steps", "0"],
        r"max.steps"),
    cli("bench-build-max-trials-negative", ["bench", "build", "--synthetic", "--out", "t.jsonl", "--max-trials",
                                            "-1"], r"max.trials"),
    cli("bench-build-unknown-trainer", ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--trainer",
                                        "no.such.module:Trainer"], r"no\.such\.module"),
    cli("bench-build-trainer-not-a-path", ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--trainer",
                                           "Trainer"], r"Trainer"),
    cli("bench-build-unknown-tuner", ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--tuner",
                                      "sonar.systems.tuner:NoTuner"], r"NoTuner"),
    cli("bench-build-compile-top-k-negative", ["bench", "build", "--out", "t.jsonl", "--candidates", "2",
                                               "--compile-top-k", "-1"], r"compile.top.k"),
    cli("replay-missing-table", ["bench", "replay", "gone.jsonl"], r"gone\.jsonl"),
    cli("replay-table-is-dir", lambda sb: ["bench", "replay", _user_dir(sb)], r"mine"),
    cli("replay-empty-table", lambda sb: ["bench", "replay", _table_with(sb, b"")], r"table\.jsonl"),
    cli("replay-random-table", lambda sb: ["bench", "replay", _table_with(sb, os.urandom(512))], r"table\.jsonl"),
    cli("replay-latin1-table", lambda sb: ["bench", "replay", _table_with(sb, "caf\xe9\n".encode("latin-1"))],
        r"table\.jsonl"),
    cli("replay-bad-gzip", lambda sb: ["bench", "replay", sb.file("t.jsonl.gz", b"not gzip at all")], r"t\.jsonl\.gz"),
    cli("replay-truncated-json", lambda sb: ["bench", "replay", _table_lines(sb, lambda ls: [*ls[:-1],
                                                                                            ls[-1][:40]])],
        r"table\.jsonl"),
    cli("replay-header-only", lambda sb: ["bench", "replay", _table_lines(sb, lambda ls: ls[:1])],
        r"table\.jsonl|no candidate"),
    cli("replay-no-header", lambda sb: ["bench", "replay", _table_lines(sb, lambda ls: ls[1:])], r"table\.jsonl"),
    cli("replay-future-version", lambda sb: ["bench", "replay", _table_lines(sb, _header_edit(version=999))],
        r"version"),
    cli("replay-foreign-schema", lambda sb: ["bench", "replay", _table_lines(sb, _header_edit(schema="other"))],
        r"schema"),
    cli("replay-row-not-object", lambda sb: ["bench", "replay", _table_lines(sb, lambda ls: [*ls, "[1, 2]"])],
        r"table\.jsonl"),
    cli("replay-seeds-zero", lambda sb: ["bench", "replay", sb.table(), "--seeds", "0"], r"--seeds"),
    cli("replay-seeds-negative", lambda sb: ["bench", "replay", sb.table(), "--seeds", "-4"], r"--seeds"),
    cli("replay-mode-unknown", lambda sb: ["bench", "replay", sb.table(), "--mode", "fastest"], r"fastest"),
    cli("replay-latency-negative", lambda sb: ["bench", "replay", sb.table(), "--latency-limit", "-1"],
        r"latency"),
    cli("replay-latency-nan", lambda sb: ["bench", "replay", sb.table(), "--latency-limit", "nan"], r"latency"),
    cli("replay-methods-unknown", lambda sb: ["bench", "replay", sb.table(), "--methods", "magic"], r"magic"),
    cli("replay-methods-empty", lambda sb: ["bench", "replay", sb.table(), "--methods", ","], r"methods"),
    cli("replay-png-is-dir", lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--methods", "random",
                                         "--png", _user_dir(sb)], r"mine"),
    cli("replay-png-missing-dir", lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--methods",
                                              "random", "--png", "no/such/r.png"], r"no/such"),
]


def _model():
    return sonar.build_model(sonar.preset("debug"))


def _generate(ids, **kw):
    return lambda _: sonar.generate(_model(), ids, **{"max_new_tokens": 1, **kw})


def _save(out):
    return sonar.save_pretrained(_model(), out)


def _config(**changes_):
    import dataclasses
    return lambda _: sonar.ModelConfig(**{**dataclasses.asdict(sonar.preset("debug")), **changes_})


API = [
    api("api-preset-unknown", lambda _: sonar.preset("llama5"), r"llama5"),
    api("api-preset-number", lambda _: sonar.preset(3), r"3"),
    api("api-config-negative-hidden", _config(hidden_size=-1), r"hidden_size"),
    api("api-config-huge-layers", _config(num_hidden_layers=10 ** 12), r"num_hidden_layers"),
    api("api-config-heads-dont-divide", _config(num_attention_heads=3), r"num_attention_heads|hidden_size"),
    api("api-config-word", _config(hidden_size="big"), r"hidden_size"),
    api("api-build-model-name", lambda _: sonar.build_model("debug"), r"ModelConfig"),
    api("api-build-model-none", lambda _: sonar.build_model(None), r"ModelConfig"),
    api("api-build-model-seed-word", lambda _: sonar.build_model(sonar.preset("debug"), seed="x"), r"seed"),
    api("api-build-model-dtype-word", lambda _: sonar.build_model(sonar.preset("debug"), dtype="fp16"), r"dtype"),
    api("api-build-model-dtype-int", lambda _: sonar.build_model(sonar.preset("debug"), dtype=torch.int8),
        r"dtype"),
    api("api-load-missing", sonar.load_pretrained, r"gone", setup=lambda sb: sb.root / "gone"),
    api("api-load-a-file", sonar.load_pretrained, r"f\.txt", setup=lambda sb: sb.root / sb.file("f.txt", "x")),
    api("api-load-config-invalid", sonar.load_pretrained, r"config\.json",
        setup=lambda sb: sb.root / _ckpt_with(sb, config=b"{")),
    api("api-load-config-list", sonar.load_pretrained, r"config\.json",
        setup=lambda sb: sb.root / _ckpt_with(sb, config=b"[]")),
    api("api-load-weights-truncated", sonar.load_pretrained, r"safetensors",
        setup=lambda sb: sb.root / _truncated_weights(sb)),
    api("api-load-weights-random", sonar.load_pretrained, r"safetensors",
        setup=lambda sb: sb.root / _ckpt_with(sb, weights=os.urandom(99))),
    api("api-save-user-dir", _save, r"mine", setup=lambda sb: sb.root / _user_dir(sb)),
    api("api-save-a-file", _save, r"f\.txt", setup=lambda sb: sb.root / sb.file("f.txt", "x")),
    api("api-save-home", _save, r"home", setup=lambda sb: sb.root / "home"),
    api("api-save-not-a-model", lambda out: sonar.save_pretrained("model", out), r"model",
        setup=lambda sb: sb.root / "out", writes=("out",)),
    api("api-save-read-only", _save, r"locked|permission|read-only|writ",
        setup=lambda sb: sb.root / _read_only_dir(sb), permissions=True),
    api("api-generate-oov", _generate(torch.tensor([[10 ** 6]])), r"1000000|vocab"),
    api("api-generate-negative-id", _generate(torch.tensor([[-1]])), r"-1|vocab"),
    api("api-generate-1d", _generate(torch.tensor([1, 2])), r"input_ids"),
    api("api-generate-float-ids", _generate(torch.tensor([[1.5]])), r"input_ids|dtype|integer"),
    api("api-generate-list", _generate([[1, 2]]), r"input_ids|tensor"),
    api("api-generate-empty", _generate(torch.ones(1, 0, dtype=torch.long)), r"input_ids|empty"),
    api("api-generate-negative-new", _generate(torch.tensor([[1]]), max_new_tokens=-1), r"max_new_tokens"),
    api("api-generate-negative-temperature", _generate(torch.tensor([[1]]), temperature=-1), r"temperature"),
    api("api-generate-top-k-zero", _generate(torch.tensor([[1]]), top_k=0), r"top_k"),
]

def _spec_text(sb: Sandbox, tail: str) -> str:
    """The valid spec with `tail` appended as written (YAML that a dict cannot hold, e.g. a repeated key)."""
    name = sb.spec()
    (sb.root / name).write_text((sb.root / name).read_text() + tail)
    return name


def _int_weights(sb: Sandbox) -> str:
    """A checkpoint whose norm weight was saved as integers: right names and shapes, wrong kind of number."""
    from safetensors.torch import load_file, save_file

    ckpt = sb.checkpoint()
    weights = sb.root / ckpt / "model.safetensors"
    tensors = load_file(weights)
    tensors["model.norm.weight"] = tensors["model.norm.weight"].to(torch.int32)
    save_file(tensors, weights, metadata={"format": "pt"})
    return ckpt


def _suite(*extra: str) -> list[str]:
    return ["bench", "suite", "--seeds", "1", "--methods", "random", "--jobs", "1", *extra]


# Found by a sweep of every command with bad input (each was a traceback, an exit 0 or a stray write).
SWEEP = [
    cli("search-spec-repeated-key", lambda sb: ["search", _spec_text(sb, "seed: 5\nseed: 6\n"), "--out", "run"],
        r"spec\.yaml.*'seed' appears twice"),
    cli("search-address-without-ray", lambda sb: ["search", sb.spec(), "--out", "run", "--address", "10.0.0.1:6379"],
        r"--address '10\.0\.0\.1:6379'.*ray"),
    cli("report-out-is-file", lambda sb: ["report", sb.run(), "--out", sb.file("f.txt", "mine")], r"f\.txt"),
    cli("plan-reserve-gb-huge", ["plan", "--model", "scout", "--reserve-gb", "1e300"], r"--reserve-gb 1e\+300"),
    cli("tune-workload-repeated-key", _tune("--preset", "debug", "--workload", "decode:ctx=8,ctx=16"),
        r"ctx is given twice"),
    cli("tune-workdir-is-file", lambda sb: ["tune", "--preset", "debug", "--trials", "1", "--workdir",
                                            sb.file("f.txt", "mine")], r"--workdir f\.txt"),
    cli("tune-out-is-dir", lambda sb: _tune("--preset", "debug", "--out", _user_dir(sb)), r"--out mine"),
    cli("train-vocab-huge", lambda sb: _train("r", "--steps", "1", "--corpus", _corpus_flag(sb), "--vocab",
                                              "100000000000"), r"--vocab 100000000000"),
    cli("eval-tasks-threads-zero", lambda sb: ["eval", "tasks", sb.checkpoint(), "--per-cell", "1", "--threads",
                                               "0"], r"--threads 0"),
    cli("posttrain-sft-threads-zero", ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--threads", "0",
                                       "--out", "o"], r"--threads 0"),
    cli("posttrain-sft-lr-inf", ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--lr", "inf", "--out",
                                 "o"], r"--lr inf"),
    cli("posttrain-rl-kl-inf", lambda sb: ["posttrain", "rl", "--from", sb.checkpoint(), "--steps", "1",
                                           "--kl-coef", "inf", "--out", "o"], r"--kl-coef inf"),
    cli("bench-build-tuner-not-a-tuner", ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--tuner",
                                          "sonar.errors:UserError"], r"--tuner 'sonar\.errors:UserError'.*run\(\)"),
    cli("bench-build-trainer-not-a-class", ["bench", "build", "--out", "t.jsonl", "--candidates", "2",
                                            "--trainer", "os:sep"], r"--trainer 'os:sep'.*not a class"),
    cli("bench-build-space-repeated-key", lambda sb: [
        "bench", "build", "--out", "t.jsonl", "--candidates", "2", "--space",
        sb.file("space.yaml", "hidden_size: [32, 64]\nhidden_size: [128]\n")], r"space\.yaml.*'hidden_size'"),
    cli("bench-build-space-latin1", lambda sb: [
        "bench", "build", "--out", "t.jsonl", "--candidates", "2", "--space",
        sb.file("space.yaml", "hidden_size: [32, 64]\n# caf\xe9\n".encode("latin-1"))], r"space\.yaml.*UTF-8"),
    cli("replay-latency-inf", lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--latency-limit", "inf"],
        r"--latency-limit inf: must be a finite number"),
    cli("replay-png-not-png", lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--methods", "random",
                                          "--png", "curves.txt"], r"curves\.txt.*\.png"),
    cli("replay-methods-repeated", lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--methods",
                                               "random,random"], r"more than once"),
    cli("suite-quantiles-empty", lambda sb: _suite(sb.table(), "--quantiles", ",", "--out", "s.json"),
        r"--quantiles"),
    cli("suite-out-is-dir", lambda sb: _suite(sb.table(), "--out", _user_dir(sb)), r"--out mine"),
    cli("suite-work-is-a-table", lambda sb: _suite(t := sb.table(), "--out", "s.json", "--work", t),
        r"--work table\.jsonl"),
    cli("suite-work-not-text", lambda sb: _suite(sb.table(), "--out", "s.json", "--work",
                                                 sb.file("w.jsonl", b"\xff\xfe" + bytes(range(128, 256)))),
        r"--work w\.jsonl"),
    cli("ablate-work-is-a-table", lambda sb: ["bench", "ablate", t := sb.table(), "--seeds", "1", "--jobs", "1",
                                              "--out", "a.json", "--work", t], r"--work table\.jsonl"),
    cli("posttrain-all-seed-repeated", ["posttrain", "all", "--preset", "debug", "--seeds", "0,0", "--out", "o"],
        r"--seeds '0,0'.*repeated"),
    cli("posttrain-sft-level-repeated", ["posttrain", "sft", "--preset", "debug", "--levels", "1,1", "--steps", "1",
                                         "--out", "o"], r"--levels '1,1'.*repeated"),
    cli("posttrain-sft-task-repeated", ["posttrain", "sft", "--preset", "debug", "--tasks", "sort,sort", "--steps",
                                        "1", "--out", "o"], r"--tasks 'sort,sort'.*repeated"),
    cli("eval-tasks-level-repeated", lambda sb: ["eval", "tasks", sb.checkpoint(), "--levels", "1,1"],
        r"--levels '1,1'"),
    cli("eval-length-out-is-checkpoint", lambda sb: ["eval", "length", sb.train_run(), "--out", sb.checkpoint()],
        r"holds a sonar checkpoint"),
    cli("eval-length-multiple-repeated", lambda sb: ["eval", "length", sb.train_run(), "--out", "o", "--multiples",
                                                     "1,1"], r"--multiples '1,1': a value is repeated"),
    cli("eval-length-config-truncated", lambda sb: ["eval", "length", _ckpt_with(sb, config=b'{"vocab_size": 2'),
                                                    "--out", "o", "--train-len", "16"], r"config\.json"),
    cli("bench-build-seed-negative", ["bench", "build", "--synthetic", "--out", "t.jsonl", "--candidates", "2",
                                      "--seed", "-1"], r"--seed -1"),
    cli("posttrain-dpo-setting-twice", lambda sb: ["posttrain", "dpo", "--from", sb.checkpoint(), "--steps", "1",
                                                   "--settings", "length_normalize=true,length_normalize=false",
                                                   "--out", "o"], r"length_normalize is set twice"),
    cli("demo-new-tokens-zero", ["demo", "--out", "d", "--new-tokens", "0"], r"--new-tokens 0"),
    cli("demo-prompt-empty", ["demo", "--out", "d", "--prompt", ""], r"--prompt"),
    cli("figures-scoreboard-list", lambda sb: ["bench", "figures", "--scoreboard", sb.file("s.json", "[1, 2]"),
                                               "--readme", sb.file("README.md", "# r\n")], r"--scoreboard s\.json"),
    cli("figures-scoreboard-other-json", lambda sb: ["bench", "figures", "--scoreboard", sb.file("s.json", '{"a": 1}'),
                                                     "--readme", sb.file("README.md", "# r\n")], r"no settings"),
    cli("figures-scoreboard-cells-not-rows", lambda sb: [
        "bench", "figures", "--scoreboard", sb.file("s.json", json.dumps(
            {"settings": {}, "tables": {}, "cells": [1, 2], "methods": {}, "sonar_ahead": {}})),
        "--readme", sb.file("README.md", "# r\n<!-- figures:measured -->\n<!-- /figures:measured -->\n")],
        r"does not hold what its command writes"),
    cli("figures-readme-not-text", lambda sb: ["bench", "figures", "--scoreboard", sb.file("s.json", "{}"),
                                               "--readme", sb.file("README.md", b"\xff\xfe\x00"), "--check"],
        r"--readme README\.md"),
    cli("plan-vision-config-word", lambda sb: ["plan", "--model", sb.file("v/config.json", json.dumps(
        {"model_type": "llama4", "text_config": json.loads((sb.root / sb.checkpoint() / "config.json").read_text()),
         "vision_config": {"hidden_size": "x"}}))], r"vision hidden_size='x'"),
    cli("plan-config-rope-word", lambda sb: ["plan", "--model", sb.file("c/config.json", json.dumps(
        {"model_type": "llama4_text", "rope_parameters": "x"}))], r"rope_parameters='x'"),
    cli("plan-config-rope-theta-word", lambda sb: ["plan", "--model", sb.file("c/config.json", json.dumps(
        {"model_type": "llama4_text", "rope_parameters": {"rope_theta": "fast"}}))], r"config\.json.*fast"),
    cli("eval-tasks-integer-weights", lambda sb: ["eval", "tasks", _int_weights(sb), "--per-cell", "1"],
        r"dtype torch\.int32, expected a floating-point dtype"),
    cli("synth-suite-out-is-file", lambda sb: ["bench", "synth-suite", "--count", "1", "--out",
                                               sb.file("f.txt", "mine")], r"--out f\.txt"),
    cli("oracle-missing-table", ["bench", "oracle", "gone.jsonl"], r"gone\.jsonl"),
    cli("oracle-quantiles-repeated", lambda sb: ["bench", "oracle", sb.table(), "--quantiles", "0.5,0.5"],
        r"repeated"),
    cli("oracle-quantiles-trailing-comma", lambda sb: ["bench", "oracle", sb.table(), "--quantiles", "0.5,"],
        r"comma-separated"),
    cli("oracle-table-twice", lambda sb: ["bench", "oracle", sb.table(), sb.table()], r"more than once"),
    cli("oracle-random-table", lambda sb: ["bench", "oracle", _table_with(sb, os.urandom(512))], r"table\.jsonl"),
    cli("oracle-quantile-above-one", lambda sb: ["bench", "oracle", sb.table(), "--quantiles", "0.5,2"],
        r"--quantiles"),
    cli("oracle-quantile-word", lambda sb: ["bench", "oracle", sb.table(), "--quantiles", "median"], r"--quantiles"),
    cli("oracle-quantiles-empty", lambda sb: ["bench", "oracle", sb.table(), "--quantiles", ","], r"--quantiles"),
]

# A document nested deeper than the parser's recursion (a corrupt or crafted file) is malformed like any
# other, not a RecursionError: one reader for each kind of file a user hands over.
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a": ' * 100_000 + "1" + "}" * 100_000


NESTING = [
    cli("plan-config-nested-too-deeply", lambda sb: ["plan", "--model", sb.file("c/config.json", DEEP_JSON)],
        r"config\.json.*nested too deeply"),
    cli("eval-tasks-config-nested-too-deeply", lambda sb: ["eval", "tasks", _ckpt_with(sb, config=DEEP_OBJECT.encode()),
                                                           "--per-cell", "1"], r"config\.json.*nested too deeply"),
    api("api-load-config-nested-too-deeply", sonar.load_pretrained, r"config\.json.*nested too deeply",
        setup=lambda sb: sb.root / _ckpt_with(sb, config=DEEP_JSON.encode())),
    cli("replay-table-nested-too-deeply", lambda sb: ["bench", "replay", _table_with(sb, DEEP_OBJECT.encode())],
        r"table\.jsonl.*nested too deeply"),
    cli("oracle-table-nested-too-deeply", lambda sb: ["bench", "oracle", _table_with(sb, DEEP_JSON.encode())],
        r"table\.jsonl.*nested too deeply"),
    cli("train-corpus-jsonl-nested-too-deeply", lambda sb: _train("r", "--steps", "1", "--corpus",
                                                                  sb.file("c.jsonl", DEEP_OBJECT + "\n")),
        r"c\.jsonl.*nested too deeply"),
    cli("train-resume-settings-nested-too-deeply", lambda sb: _train(
        _spoil(sb, "trained", "train_config.json", DEEP_OBJECT.encode()), "--steps", "3", "--resume"),
        r"train_config\.json.*nested too deeply"),
    cli("posttrain-sft-data-nested-too-deeply", lambda sb: [
        "posttrain", "sft", "--preset", "debug", "--steps", "1", "--out", "o", "--data",
        sb.file("d.jsonl", DEEP_OBJECT + "\n")], r"d\.jsonl.*nested too deeply"),
    cli("figures-scoreboard-nested-too-deeply", lambda sb: [
        "bench", "figures", "--scoreboard", sb.file("s.json", DEEP_OBJECT), "--readme", sb.file("README.md", "# r\n")],
        r"s\.json.*nested too deeply"),
    cli("bench-build-space-nested-too-deeply", lambda sb: [
        "bench", "build", "--out", "t.jsonl", "--candidates", "2", "--space", sb.file("space.yaml", DEEP_JSON)],
        r"space\.yaml.*nested too deeply"),
    cli("search-spec-nested-too-deeply", lambda sb: ["search", sb.file("s.yaml", "a: " + DEEP_JSON), "--out", "run"],
        r"s\.yaml.*nested too deeply"),
    cli("status-event-nested-too-deeply", lambda sb: ["status", _bad_json_row(sb, DEEP_OBJECT)],
        r"search\.db.*nested too deeply"),
    cli("export-marker-nested-too-deeply", lambda sb: [
        "export", sb.run(), "--best", "--to", "out"] if sb.file("out/.sonar-output.json", DEEP_OBJECT) else [],
        r"sonar-output\.json.*nested too deeply"),
]

BIG = "99999999999999999999999"

# Found by a second sweep: each was a crash (segfault, out of memory), a traceback or a silent exit 0.
SWEEP2 = [
    cli("train-threads-huge", lambda sb: _train("r", "--steps", "1", "--corpus", _corpus_flag(sb), "--threads",
                                                 "100000"), r"--threads 100000"),
    cli("bench-train-threads-huge", ["bench", "train", "--presets", "debug", "--steps", "1", "--threads", "100000"],
        r"--threads 100000"),
    cli("posttrain-sft-threads-huge", ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--threads",
                                       "100000", "--out", "o"], r"--threads 100000"),
    cli("eval-tasks-threads-huge", lambda sb: ["eval", "tasks", sb.checkpoint(), "--per-cell", "1", "--threads",
                                               "100000"], r"--threads 100000"),
    cli("eval-length-threads-huge", lambda sb: ["eval", "length", sb.train_run(), "--out", "o", "--threads",
                                                "100000"], r"--threads 100000"),
    cli("train-seed-huge", lambda sb: _train("r", "--steps", "1", "--corpus", _corpus_flag(sb), "--seed", BIG),
        rf"--seed {BIG}"),
    cli("train-seed-negative", lambda sb: _train("r", "--steps", "1", "--corpus", _corpus_flag(sb), "--seed", "-1"),
        r"--seed -1"),
    cli("posttrain-sft-seed-huge", ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--seed", BIG, "--out",
                                    "o"], rf"--seed {BIG}"),
    cli("posttrain-sft-seed-negative", ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--seed", "-1",
                                        "--out", "o"], r"--seed -1"),
    cli("posttrain-rl-seed-above-stage-range", lambda sb: ["posttrain", "rl", "--from", sb.checkpoint(), "--steps",
                                                           "1", "--seed", str(2**40), "--out", "o"],
        rf"--seed {2**40}"),
    cli("posttrain-all-seeds-huge", ["posttrain", "all", "--preset", "debug", "--seeds", f"0,{BIG}", "--out", "o"],
        rf"--seeds {BIG}"),
    api("api-build-model-seed-huge", lambda _: sonar.build_model(sonar.preset("debug"), seed=2**70), rf"seed={2**70}"),
    api("api-build-model-seed-negative", lambda _: sonar.build_model(sonar.preset("debug"), seed=-1), r"seed=-1"),
    cli("posttrain-sft-preset-too-large", ["posttrain", "sft", "--preset", "maverick", "--steps", "1", "--out", "o"],
        r"--preset 'maverick'.*GB of memory"),
    cli("tune-preset-too-large", ["tune", "--preset", "maverick", "--workdir", "w"],
        r"--preset 'maverick'.*GB of memory"),
    api("api-build-model-too-large", lambda _: sonar.build_model(sonar.preset("maverick")),
        r"400\.\dB parameters.*GB of memory"),
    cli("posttrain-sft-batch-size-huge", ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--batch-size",
                                          BIG, "--out", "o"], rf"--batch-size {BIG}"),
    cli("posttrain-sft-steps-huge", ["posttrain", "sft", "--preset", "debug", "--steps", BIG, "--out", "o"],
        rf"--steps {BIG}"),
    cli("posttrain-rl-group-size-huge", lambda sb: ["posttrain", "rl", "--from", sb.checkpoint(), "--steps", "1",
                                                    "--group-size", "10000000", "--out", "o"],
        r"--group-size 10000000"),
    cli("posttrain-rl-prompts-per-step-huge", lambda sb: ["posttrain", "rl", "--from", sb.checkpoint(), "--steps", "1",
                                                          "--prompts-per-step", BIG, "--out", "o"],
        rf"--prompts-per-step {BIG}"),
    cli("plan-table-gpu-counts-repeated", ["plan", "--table", "--gpu-counts", "1,1"], r"--gpu-counts '1,1'.*repeated"),
    cli("plan-table-weights-unknown", ["plan", "--table", "--weights", "int2"], r"'int2'"),
    cli("plan-table-context-word", ["plan", "--table", "--context", "abc"], r"--context 'abc'"),
    cli("plan-table-provider-unknown", ["plan", "--table", "--provider", "nobody"], r"--provider 'nobody'"),
    cli("plan-gpus-huge", ["plan", "--model", "scout", "--gpus", BIG], rf"--gpus {BIG}"),
    cli("plan-batch-huge", ["plan", "--model", "scout", "--batch", BIG], rf"--batch {BIG}"),
    cli("train-steps-huge", lambda sb: _train("r", "--steps", BIG, "--corpus", _corpus_flag(sb)), rf"--steps {BIG}"),
    cli("bench-train-batch-size-huge", ["bench", "train", "--presets", "debug", "--steps", "1", "--batch-size", BIG],
        rf"--batch-size {BIG}: must be at most"),
    cli("bench-train-seq-len-huge", ["bench", "train", "--presets", "debug", "--steps", "1", "--seq-len", BIG],
        rf"--seq-len {BIG}: "),
    cli("bench-train-steps-huge", ["bench", "train", "--presets", "debug", "--steps", BIG],
        rf"--steps {BIG}: must be at most"),
    api("api-generate-seed-huge", _generate(torch.tensor([[1]]), temperature=1.0, seed=2**70), rf"seed={2**70}"),
]


def _candidate_edit(edit):
    """A table edit that changes the first candidate record (a dict) in place; json writes nan as NaN."""
    def lines_edit(lines):
        row = json.loads(lines[1])
        edit(row)
        return [lines[0], json.dumps(row), *lines[2:]]
    return lines_edit


def _objective_edit(**changes_):
    def lines_edit(lines):
        header = json.loads(lines[0])
        header["objective"].update(changes_)
        return [json.dumps(header), *lines[1:]]
    return lines_edit


def _replay(sb: Sandbox, edit) -> list[str]:
    return ["bench", "replay", _table_lines(sb, edit), "--seeds", "1", "--methods", "random,sonar"]


# Found by a third sweep, of benchmark tables with impossible numbers: each replayed as if valid or crashed.
SWEEP3 = [
    cli("replay-table-nan-cost", lambda sb: _replay(sb, _candidate_edit(
        lambda c: c["curve"][0].update(seconds=float("nan")))), r"table\.jsonl:2.*'seconds'.*nan"),
    cli("replay-table-nan-loss", lambda sb: _replay(sb, _candidate_edit(
        lambda c: c["curve"][0].update(val_loss=float("nan")))), r"table\.jsonl:2.*'val_loss'.*nan"),
    cli("replay-table-infinite-latency", lambda sb: _replay(sb, _candidate_edit(
        lambda c: c["tuning"][0].update(latency_s=float("inf")))), r"table\.jsonl:2.*'latency_s'.*inf"),
    cli("replay-table-negative-latency", lambda sb: _replay(sb, _candidate_edit(
        lambda c: c["tuning"][0].update(latency_s=-1))), r"table\.jsonl:2.*'latency_s'.*-1"),
    cli("replay-table-quantile-above-one", lambda sb: _replay(sb, _objective_edit(latency_limit_quantile=2)),
        r"table\.jsonl:1.*'latency_limit_quantile' is 2"),
    cli("oracle-table-mode-unknown", lambda sb: ["bench", "oracle", _table_lines(sb, _objective_edit(mode="fastest"))],
        r"table\.jsonl:1.*'mode' is 'fastest'"),
    cli("oracle-table-quantile-nan", lambda sb: ["bench", "oracle", _table_lines(
        sb, _objective_edit(latency_limit_quantile=float("nan")))], r"table\.jsonl:1.*'latency_limit_quantile'"),
    cli("bench-build-candidates-past-the-space", ["bench", "build", "--synthetic", "--out", "t.jsonl", "--candidates",
                                                  "5000", "--max-steps", "8"], r"--candidates 5000.*1344"),
    cli("bench-build-max-steps-huge", ["bench", "build", "--synthetic", "--out", "t.jsonl", "--candidates", "2",
                                       "--max-steps", BIG], rf"--max-steps {BIG}"),
    cli("bench-build-max-trials-huge", ["bench", "build", "--synthetic", "--out", "t.jsonl", "--candidates", "2",
                                        "--max-trials", BIG], rf"--max-trials {BIG}"),
    cli("bench-build-out-under-a-file", lambda sb: ["bench", "build", "--synthetic", "--out",
                                                    sb.file("f.txt", "mine") + "/t.jsonl", "--candidates", "2",
                                                    "--max-steps", "8"], r"--out f\.txt/t\.jsonl: f\.txt is a file"),
    cli("suite-out-under-a-file", lambda sb: _suite(sb.table(), "--out", sb.file("f.txt", "mine") + "/s.json"),
        r"--out f\.txt/s\.json: f\.txt is a file"),
    cli("suite-work-under-a-file", lambda sb: _suite(sb.table(), "--out", "s.json", "--work",
                                                     sb.file("f.txt", "mine") + "/w.jsonl"), r"--work f\.txt/w\.jsonl"),
    cli("suite-out-is-the-table", lambda sb: _suite(t := sb.table(), "--out", t), r"--out table\.jsonl: is an input"),
    cli("suite-out-is-a-user-file", lambda sb: _suite(sb.table(), "--out", sb.file("notes.json", '{"mine": 1}')),
        r"--out notes\.json: exists and is not a scoreboard"),
    cli("suite-table-twice", lambda sb: _suite(t := sb.table(), str(sb.root / t), "--out", "s.json"),
        r"table\.jsonl.*more than once"),
    cli("suite-rules-empty", lambda sb: _suite(sb.table(), "--out", "s.json", "--rules", ","), r"rules"),
    cli("ablate-out-under-a-file", lambda sb: ["bench", "ablate", sb.table(), "--seeds", "1", "--jobs", "1", "--out",
                                               sb.file("f.txt", "mine") + "/a.json"], r"--out f\.txt/a\.json"),
    cli("synth-suite-out-user-dir", lambda sb: ["bench", "synth-suite", "--count", "1", "--out", _user_dir(sb)],
        r"mine.*not empty"),
    cli("synth-suite-out-home", lambda sb: ["bench", "synth-suite", "--count", "1", "--out", str(sb.root / "home")],
        r"home directory"),
    cli("synth-suite-out-under-a-file", lambda sb: ["bench", "synth-suite", "--count", "1", "--out",
                                                    sb.file("f.txt", "mine") + "/suite"], r"--out f\.txt/suite"),
    cli("report-out-user-dir", lambda sb: ["report", sb.run(), "--out", _user_dir(sb)], r"mine.*not empty"),
    cli("report-out-run-dir", lambda sb: ["report", r := sb.run(), "--out", r], r"run.*not empty"),
    cli("report-out-dot", lambda sb: ["report", sb.run(), "--out", "."], r"current directory"),
    cli("report-out-home", lambda sb: ["report", sb.run(), "--out", str(sb.root / "home")], r"home directory"),
    cli("report-out-under-a-file", lambda sb: ["report", sb.run(), "--out", sb.file("f.txt", "mine") + "/r"],
        r"f\.txt/r: f\.txt is a file"),
    cli("demo-new-tokens-huge", ["demo", "--out", "d", "--new-tokens", BIG], rf"--new-tokens {BIG}"),
    cli("replay-png-a-user-file", lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--methods", "random",
                                              "--png", sb.file("notes.png", "not a picture")],
        r"--png notes\.png: exists and is not a PNG"),
]


def _space(sb: Sandbox, text: str) -> list[str]:
    return ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--max-steps", "8", "--space",
            sb.file("space.yaml", text)]


# A later sweep: tuning records written into another command's directory, and search spaces whose
# choices no architecture could take (skipped draw after draw before, or a vague "no valid architecture").
SWEEP4 = [
    cli("tune-workdir-is-a-checkpoint", lambda sb: _tune("--preset", "debug", "--workdir", sb.checkpoint()),
        r"holds no tuning records"),
    cli("tune-workdir-is-a-search-run", lambda sb: _tune("--preset", "debug", "--workdir", sb.run()),
        r"run.*holds no tuning records"),
    cli("bench-tune-workdir-user-dir", lambda sb: ["bench", "tune", "--archs", "tiny", "--trials", "1", "--workdir",
                                                   _user_dir(sb)], r"mine: is not empty and holds no tuning records"),
    cli("bench-build-space-hidden-zero", lambda sb: _space(sb, "hidden_size: [0, 64]\n"),
        r"hidden_size\.choices\[0\]: hidden_size=0: must be >= 1"),
    cli("bench-build-space-odd-head-dim", lambda sb: _space(sb, "head_dim: [16, 33]\n"), r"head_dim=33: must be even"),
    cli("bench-build-space-step-past-range", lambda sb: _space(sb, "hidden_size: {int: [32, 64], step: 1000}\n"),
        r"hidden_size\.step: 1000 is wider than the range"),
    cli("bench-build-space-float-step", lambda sb: _space(sb, "rope_theta: {float: [1000, 10000], step: 10}\n"),
        r"rope_theta\.step: a float range"),
    cli("bench-build-space-never-divides", lambda sb: _space(sb, "hidden_size: [65, 67]\n"),
        r"no valid architecture in 200 draws: \d+x ModelConfig: hidden_size=6[57] is not divisible"),
    cli("search-spec-rule-never-holds", lambda sb: ["search", sb.spec({"arch": {"rules": ["hidden_size > 99999"]}}),
                                                    "--out", "run"], r"200x rule 'hidden_size > 99999' does not hold"),
]

CASES = (GENERAL + PLAN + SEARCH + STATUS + REPORT + EXPORT + TRAIN + TUNE + BENCH + API + SWEEP + NESTING + SWEEP2
         + SWEEP3 + SWEEP4)

# Cases that still fail, each with the reason; strict, so a fix turns the xfail into a failure to remove here.
KNOWN_FAILING: dict[str, str] = {}


def _params():
    return params(CASES, KNOWN_FAILING)


def test_suite_is_large_enough():
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input(case: Case, sandbox: Sandbox):
    check_case(case, sandbox)


# -- the error layer itself (cli/app.py), on a throwaway app with the same root group ----------------------


def _layer_app(raise_it: Callable[[], None]):
    import typer

    from sonar.cli.app import SonarGroup

    layer = typer.Typer(cls=SonarGroup, pretty_exceptions_enable=False, add_completion=False)

    @layer.command()
    def boom() -> None:
        raise_it()

    @layer.command()
    def other() -> None:
        """Keeps `boom` a subcommand."""
    return layer


def _raise(error: BaseException) -> Callable[[], None]:
    def raise_it() -> None:
        raise error
    return raise_it


@pytest.mark.parametrize("error,line", [
    (sonar.UserError("install it: pip install 'sonar[peers]'"), "error: install it: pip install 'sonar[peers]'"),
    (sonar.UserError("spec changed:\n- a: 1\n+ a: 2"), "error: spec changed: | - a: 1 | + a: 2"),
    (OSError(28, "No space left on device", "out/model.safetensors"),
     "error: out/model.safetensors: No space left on device"),
    (PermissionError(13, "Permission denied", "/archive/run"), "error: /archive/run: Permission denied"),
])
def test_user_errors_are_one_line_exit_2(error, line):
    result = CliRunner().invoke(_layer_app(_raise(error)), ["boom"])
    assert (result.exit_code, result.stderr) == (2, line + "\n")


@pytest.mark.parametrize("error", [RuntimeError("a bug"), KeyError("x"), FileNotFoundError(2, "gone", "x")])
def test_a_bug_keeps_its_traceback(error):
    result = CliRunner().invoke(_layer_app(_raise(error)), ["boom"])
    assert result.exit_code == 1 and result.exception is error  # CliRunner keeps what the process would print


def test_the_installed_command_prints_one_line_without_traceback(tmp_path):
    import subprocess
    import sys

    for argv in (["plan", "--model", "scout", "--gpus", "0"], ["search", "--frobnicate"]):
        done = subprocess.run([sys.executable, "-c", "from sonar.cli import main; main()", *argv], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr


# Counts far past anything meaningful (a typo such as 1e12) are refused at once rather than run for hours.
HUGE_COUNTS = [
    (["bench", "replay", "benchmarks/synthetic-64.jsonl.gz", "--seeds", "1000000000000"], r"--seeds 1000000000000"),
    (["bench", "synth-suite", "--out", "suite", "--count", "100000000000"], r"--count 100000000000"),
    (["bench", "suite", "benchmarks/synthetic-64.jsonl.gz", "--seeds", "1000000000000"], r"--seeds 1000000000000"),
]


@pytest.mark.parametrize("argv, message", HUGE_COUNTS)
def test_a_huge_count_is_refused_at_once(argv, message, tmp_path, monkeypatch):
    from pathlib import Path

    from typer.testing import CliRunner

    from sonar.cli.app import app

    root = Path(__file__).parents[2]
    argv = [str(root / a) if a.startswith("benchmarks/") else a for a in argv]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_huge_example_and_window_counts_are_refused():
    from sonar.errors import UserError
    from sonar.longctx.length import LengthEval
    from sonar.posttrain.tasks import generate_examples

    with pytest.raises(UserError, match="examples per"):
        generate_examples("addition", 1, 10**12, split="train", seed=0)
    with pytest.raises(UserError, match="windows=1000000000"):
        LengthEval(train_len=64, windows=10**9)
