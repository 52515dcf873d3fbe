"""Bad input found by a ninth sweep (the contract each case must meet: bad_input_cases.py). Each case named a
Python keyword or a role rather than the flag typed, or left out what the flag accepts."""

from __future__ import annotations

import pytest
import torch
from bad_input_cases import check_case, cli, params
from bad_input_sandbox import Sandbox

_BUILD = ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--max-steps", "8", "--max-trials", "1"]


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch):
    """Every case runs as on a machine without a GPU, where a present one would start the work it expects
    refused."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _rl(sb: Sandbox, *extra: str) -> list[str]:
    return ["posttrain", "rl", "--from", sb.checkpoint(), "--out", "o", *extra]


CASES = [
    # "trainer 'nope': expected 'package.module:Name'": the import's role, no flag, and no class that works
    *(cli(f"bench-build-{flag}-{name}", [*_BUILD, f"--{flag}", value],
          rf"^error: --{flag} '{escaped}'{reason}; name a {kind} class, such as the built-in {default}$")
      for flag, kind, default in (("trainer", "Trainer", r"sonar\.train\.trainer:CorpusTrainer"),
                                  ("tuner", "Tuner", r"sonar\.systems\.tuner:SystemTuner"))
      for name, value, escaped, reason in (
          ("malformed", "nope", "nope", r": expected 'package\.module:Name'"),
          ("missing-module", "nope.x:Y", r"nope\.x:Y", r" is not available here \(No module named 'nope'\); .*"),
          ("missing-class", "sonar.bench.build:Nope", r"sonar\.bench\.build:Nope",
           r": sonar\.bench\.build has no 'Nope'"))),
    # "archs ['nope']: unknown; choose from [...]": the bench's keyword and Python lists
    *(cli(f"bench-tune-archs-{name}", ["bench", "tune", "--archs", value, "--workdir", "w"],
          rf"^error: --archs '{value}': unknown architecture {bad}; choose from tiny, small, small-interleaved$")
      for name, value, bad in (("unknown", "nope", "nope"), ("one-unknown", "tiny,nope", "nope"))),
    # correct already, and kept: a negative --train-steps names the flag (0 is documented: tune the random init)
    cli("bench-tune-train-steps-negative", ["bench", "tune", "--train-steps", "-1", "--workdir", "w"],
        r"^error: --train-steps -1: must be from 0 to 1,000,000,000 \(0: tune the random init\)$"),
    # "--max-level 1: must be >= start_level=3": the bound named by the curriculum's keyword
    cli("posttrain-rl-max-level-below-start-level", lambda sb: _rl(sb, "--start-level", "3", "--max-level", "1"),
        r"^error: --max-level 1: must be >= --start-level 3$"),
    cli("posttrain-rl-max-level-below-default-start-level", lambda sb: _rl(sb, "--max-level", "1"),
        r"^error: --max-level 1: must be >= --start-level 2$"),
    # "unknown GPU 'nope'; ...", "unknown weight format 'nope'; ...", "unknown KV cache dtype ...": no flag named
    *(cli(f"plan-{where}{flag}-{name}", ["plan", *model, f"--{flag}", value], rf"^error: --{flag} {expect}")
      for where, model in (("", ["--model", "scout"]), ("table-", ["--table"]))
      for flag, name, value, expect in (
          ("gpu", "unknown", "nope", r"'nope': unknown GPU; choose one of \['a100-40gb', .* or a capacity such as"),
          ("gpu", "fractional-bytes", "5.5", r"'5\.5': GPU capacity: a byte count is a whole number; for gigabytes"
                                             r" write 5\.5GB or 5\.5GiB$"),
          ("weights", "unknown", "int2", r"'int2': unknown weight format; choose one of \['bf16', "),
          ("kv-dtype", "unknown", "int4", r"'int4': unknown KV cache dtype; choose one of \['bf16', 'fp8'\]$"))),
    # "unknown preset 'nope'; ...": the preset's words, with no flag, in every command that starts from one
    *(cli(f"{'-'.join(argv[:2])}-preset-unknown", [*argv, "--preset", "nope"],
          r"^error: --preset 'nope': unknown preset; choose one of \['debug', ")
      for argv in (["posttrain", "sft", "--out", "o"], ["posttrain", "all", "--out", "o"],
                   ["posttrain", "tune", "--out", "o"], ["tune", "--trials", "1", "--workdir", "w"])),
    cli("posttrain-distill-preset-unknown", lambda sb: ["posttrain", "distill", "--teacher", sb.checkpoint(),
                                                        "--preset", "nope", "--out", "o"],
        r"^error: --preset 'nope': unknown preset; choose one of \['debug', "),
    # "trained: no config.json ...; its checkpoint is trained/model: pass that": the path, and no flag
    *(cli(f"{'-'.join(argv[:2])}-{flag.strip('-')}-a-train-run",
          lambda sb, argv=argv, flag=flag: [*argv, flag, sb.train_run()],
          rf"^error: {flag} trained: no config\.json \(not a transformers checkpoint directory\); its checkpoint is"
          r" trained/model: pass that$")
      for argv, flag in ((["posttrain", "rl", "--out", "o"], "--from"), (["posttrain", "dpo", "--out", "o"], "--from"),
                         (["posttrain", "distill", "--preset", "debug", "--out", "o"], "--teacher"),
                         (["tune", "--trials", "1", "--workdir", "w"], "--checkpoint"))),
    cli("tune-checkpoint-missing", ["tune", "--checkpoint", "nope", "--trials", "1", "--workdir", "w"],
        r"^error: --checkpoint nope: no config\.json"),
    # "tasks=['chess']: choose one or more of [...]", "levels=0: must be an integer in 1..5": the settings' keywords
    *(cli(f"{'-'.join(argv[:2])}-{name}", lambda sb, argv=argv, extra=extra: [
        *(sb.checkpoint() if arg == "CKPT" else arg for arg in argv), *extra], expect)
      for argv in (["posttrain", "sft", "--preset", "debug", "--out", "o"], ["posttrain", "rl", "--from", "CKPT",
                                                                             "--out", "o"], ["eval", "tasks", "CKPT"])
      for name, extra, expect in (
          ("tasks-unknown", ["--tasks", "sort,chess"],
           r"^error: --tasks 'sort,chess': unknown task chess; choose from addition, brackets, count, reverse, sort$"),
          ("levels-zero", ["--levels", "0"], r"^error: --levels '0': level 0 is not among the levels 1 to 5$"),
          ("levels-past-the-last", ["--levels", "1,6,9"],
           r"^error: --levels '1,6,9': levels 6, 9 are not among the levels 1 to 5$"))
      if not (argv[1] == "rl" and name.startswith("levels"))),
    # "workload 'nope': ...", "workload context=0: ...": the workload's words and fields, not the flag and its keys
    *(cli(f"{'-'.join(argv[:2])}-workload-{name}", [*argv, "--workload", value], rf"^error: --workload {expect}")
      for argv in (["tune", "--preset", "debug", "--trials", "1", "--workdir", "w"],
                   ["bench", "tune", "--archs", "tiny", "--trials", "1", "--workdir", "w"])
      for name, value, expect in (
          ("unknown-kind", "nope", r"'nope': kind 'nope' must be one of \['prefill', 'decode', 'throughput'\]$"),
          ("zero-context", "decode:ctx=0", r"'decode:ctx=0': ctx=0: must be >= 1$"),
          ("zero-batch", "decode:ctx=8,b=0", r"'decode:ctx=8,b=0': b=0: must be >= 1$"),
          ("negative-tokens", "prefill:t=-1", r"'prefill:t=-1': t=-1: must be >= 1$"),
          ("past-the-model", "decode:ctx=100000", r"'decode:ctx=100000': (--preset 'debug'|tiny) reads at most"))),
    # "corpus path 'nope' does not exist", "corpus '/abs/spec.yaml' has 1 document: ...": the reader's words alone
    *(cli(f"{'-'.join(argv[:2])}-corpus-{name}", lambda sb, argv=argv, value=value: [
        *(sb.train_run() if arg == "RUN" else arg for arg in argv), "--corpus", value(sb)], rf"^error: {expect}")
      for argv in (["train", "--preset", "debug", "--steps", "1", "--out", "r"],
                   ["eval", "length", "RUN", "--out", "o"])
      for name, value, expect in (
          ("missing", lambda sb: "nope", r"--corpus 'nope': corpus path 'nope' does not exist$"),
          ("one-document", lambda sb: sb.file("one.txt", "a single short document\n"),
           r"--corpus 'one\.txt': corpus '.*one\.txt' has 1 document: a train/val split needs at least 2$"),
          ("folder-without-text", lambda sb: sb.file("d/x.bin", b"\0") and "d",
           r"--corpus 'd': (corpus directory 'd'|directory) holds no text files"))),
    # "/tmp/.../spec.yaml: exists and is not a directory": the path made absolute, and no flag
    cli("eval-length-out-is-a-file", lambda sb: ["eval", "length", sb.train_run(), "--out", sb.file("x.txt", "mine")],
        r"^error: --out x\.txt: exists and is not a directory; name a directory$"),
    # ".: refusing to write into the current directory ...", "run: is not empty ...": the path alone, no flag
    *(cli(f"{'-'.join(argv[:2])}-{flag.strip('-')}-{name}", lambda sb, argv=argv, flag=flag, value=value: [
        *(sb.spec() if arg == "SPEC" else arg for arg in argv), flag, value(sb)], rf"^error: {flag} {expect}")
      for argv, flag in ((["train", "--preset", "debug", "--steps", "1"], "--out"),
                         (["posttrain", "sft", "--preset", "debug", "--steps", "1"], "--out"),
                         (["search", "SPEC", "--no-live"], "--out"),
                         (["bench", "synth-suite", "--count", "1"], "--out"),
                         (["tune", "--preset", "debug", "--trials", "1"], "--workdir"),
                         (["bench", "tune", "--archs", "tiny", "--trials", "1"], "--workdir"))
      for name, value, expect in (
          ("the-working-directory", lambda sb: ".", r"\.: refusing to write into the current directory"),
          ("a-folder-of-other-files", lambda sb: sb.file("mine/notes.txt", "mine") and "mine",
           r"mine: is not empty and holds no "))),
    cli("posttrain-sft-out-empty", ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--out", ""],
        r"^error: --out '': refusing to write into the current directory"),
    cli("report-out-is-a-file", lambda sb: ["report", sb.run(), "--out", sb.file("x.txt", "mine")],
        r"^error: --out x\.txt: exists and is not a directory"),
    cli("search-resume-not-a-run", lambda sb: ["search", "--resume", sb.spec(), "--no-live"],
        r"^error: --resume spec\.yaml: not a search directory \(no search\.db\)$"),
    # "run: already holds a search; ...", and only once the executor had started
    cli("search-out-holds-a-search", lambda sb: ["search", sb.spec(), "--out", sb.run(), "--no-live"],
        r"^error: --out run: already holds a search; use `sonar search --resume run` to continue it, or name a new"
        r" --out$"),
    # "--rules ',': names no name (or leave --rules out)": the list's generic word, and nothing that works
    *(cli(f"{command}-{flag}-names-nothing", lambda sb, command=command, flag=flag, value=value: [
        "bench", command, sb.table(), *(["--out", "s.json"] if command == "suite" else []), "--seeds", "1", "--jobs",
        "1", f"--{flag}", value], rf"^error: --{flag} '{value}': names no {what}(; choose from {first}.*)?"
                                 rf" \(or leave --{flag} out\)$")
      for command, flag, value, what, first in (("suite", "rules", ",", "recommendation rule", "completed"),
                                                ("ablate", "rules", ",", "recommendation rule", "completed"),
                                                ("ablate", "switch", "", "scheduler rule", "forecast"),
                                                ("suite", "methods", "", "method", ""))),
    # the same corpus refusals in bench build, once its settings were checked
    *(cli(f"bench-build-corpus-{name}", lambda sb, value=value: [*_BUILD, "--corpus", value(sb)], rf"^error: {expect}")
      for name, value, expect in (
          ("missing", lambda sb: "nope", r"--corpus 'nope': corpus path 'nope' does not exist$"),
          ("one-document", lambda sb: sb.file("one.txt", "a single short document\n"),
           r"--corpus 'one\.txt': corpus .*one\.txt' has 1 document: a train/val split needs at least 2$"))),
    # "--compile 'nope': compiles ['nope']: unknown; choose from [...]": the search space's keyword and lists
    cli("tune-compile-unknown", ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w", "--compile",
                                 "eager,nope"],
        r"^error: --compile 'eager,nope': unknown compile mode nope; choose from eager, default, .*, aot$"),
    # "/tmp/.../x.txt: exists and is not a directory", ".: refusing ...": the path, absolute or as read, no flag
    cli("export-to-a-file", lambda sb: ["export", sb.run(), "--best", "--to", sb.file("x.txt", "mine")],
        r"^error: --to x\.txt: exists and is not a directory; name a directory$"),
    cli("export-to-the-working-directory", lambda sb: ["export", sb.run(), "--best", "--to", "."],
        r"^error: --to \.: refusing to write into the current directory"),
    # "nope: cannot read the benchmark JSON (...)": which of three JSON flags it was, unsaid
    *(cli(f"bench-figures-scoreboard-{name}", lambda sb, value=value: [
        "bench", "figures", "--scoreboard", value(sb), "--readme", sb.file("R.md", "# figures\n")],
          rf"^error: --scoreboard {expect}")
      for name, value, expect in (
          ("missing", lambda sb: "nope.json", r"nope\.json: cannot read the benchmark JSON \(\[Errno 2\]"),
          ("not-json", lambda sb: sb.spec(), r"spec\.yaml: cannot read the benchmark JSON \(Expecting value"))),
    # "no table (*.jsonl, *.jsonl.gz) in ['run']": a Python list of what was typed
    *(cli(f"bench-{command}-a-folder-without-tables", lambda sb, command=command, extra=extra: [
        "bench", command, sb.run(), *extra],
          r"^error: run: no table \(\*\.jsonl, \*\.jsonl\.gz\) there; name tables written by `sonar bench build`,"
          r" or folders holding them$")
      for command, extra in (("oracle", []), ("suite", ["--out", "s.json", "--seeds", "1", "--jobs", "1"]),
                             ("ablate", ["--seeds", "1", "--jobs", "1"]))),
    # the last of a repeated flag won without a word: `--out a --out b` wrote to b, `--model scout --model maverick`
    # planned maverick, `--live --no-live` ran the last of two contradictory choices
    *(cli(f"repeated-{name}", argv, rf"^error: {flag} is given more than once: give it once \(the command would keep"
                                    rf" the last and drop the others without a word; see `sonar {command} --help`\)$")
      for name, argv, flag, command in (
          ("plan-model", ["plan", "--model", "scout", "--model", "maverick"], "--model", "plan"),
          ("plan-model-with-equals", ["plan", "--model=scout", "--model", "scout"], "--model", "plan"),
          ("plan-json", ["plan", "--model", "scout", "--json", "--json"], "--json", "plan"),
          ("train-steps", ["train", "--preset", "debug", "--steps", "1", "--steps", "2", "--out", "r"], "--steps",
           "train"),
          ("search-out", ["search", "spec.yaml", "--out", "a", "--out", "b"], "--out", "search"),
          ("search-live", ["search", "spec.yaml", "--out", "a", "--live", "--no-live"], "--live/--no-live",
           "search"),
          ("bench-replay-seeds", ["bench", "replay", "t.jsonl", "--seeds", "1", "--seeds", "2"], "--seeds",
           "bench replay"),
          ("posttrain-rl-from", ["posttrain", "rl", "--from", "a", "--from", "b"], "--from", "posttrain rl"),
          ("eval-length-windows", ["eval", "length", "x", "--windows", "1", "--windows", "2"], "--windows",
           "eval length"))),
    # correct, and kept: a list option or an argument given many times, and a value that looks like a flag
    cli("repeated-tables-are-arguments", lambda sb: ["bench", "oracle", sb.table(), sb.table("t2.jsonl")], "",
        ok=True),
    # "'nope=1': expected name=value ...": an item of a settings list, and no flag
    *(cli(f"{'-'.join(argv[:2])}-{flag.strip('-')}-not-a-setting", lambda sb, argv=argv, flag=flag: [
        *(sb.checkpoint() if arg == "CKPT" else arg for arg in argv), flag, "nope=1"],
          rf"^error: {flag} 'nope=1': expected name=value with name one of steps, ")
      for argv, flag in ((["posttrain", "dpo", "--from", "CKPT", "--out", "o"], "--settings"),
                         (["posttrain", "all", "--preset", "debug", "--out", "o"], "--dpo"),
                         (["posttrain", "tune", "--preset", "debug", "--out", "o"], "--dpo-candidates"))),
    # "nope.jsonl: no such file", "spec.yaml line 1: not valid JSON ...": the file, and no flag
    *(cli(f"{'-'.join(argv[:2])}-{flag.strip('-')}-{name}", lambda sb, argv=argv, flag=flag, value=value: [
        *(sb.checkpoint() if arg == "CKPT" else arg for arg in argv), flag, value(sb)], rf"^error: {flag} {expect}")
      for argv, flag in ((["posttrain", "sft", "--preset", "debug", "--out", "o"], "--data"),
                         (["posttrain", "distill", "--teacher", "CKPT", "--preset", "debug", "--out", "o"], "--data"),
                         (["posttrain", "dpo", "--from", "CKPT", "--out", "o"], "--pairs"))
      for name, value, expect in (("missing", lambda sb: "nope.jsonl", r"nope\.jsonl: no such file$"),
                                  ("not-json", lambda sb: sb.spec(), r"spec\.yaml line 1: not valid JSON"))),
    # "rl_lrs=[nan]: name one or more rates, each > 0", "dpo_candidates=['', '']: [''] named more than once"
    *(cli(f"posttrain-tune-{name}", ["posttrain", "tune", "--preset", "debug", "--out", "o", flag, value],
          rf"^error: {flag} {expect}$")
      for name, flag, value, expect in (
          ("rl-rate-nan", "--rl-lrs", "1e-3,nan", r"'1e-3,nan': each rate must be a finite number > 0"),
          ("rl-rate-negative", "--rl-lrs", "-1", r"'-1': each rate must be a finite number > 0"),
          ("rl-rate-past-the-most", "--rl-lrs", "20", r"'20': lr=20\.0: must be a finite number > 0 and at most 10"),
          ("dpo-candidates-empty-twice", "--dpo-candidates", ";",
           r"';': '' \(the DPO config as it stands\) named more than once; name each candidate once"),
          ("dpo-candidates-twice", "--dpo-candidates", "beta=1;beta=1",
           r"'beta=1;beta=1': 'beta=1' named more than once; name each candidate once"))),
    # "multiples=[0]: give positive integers", "depths=[0.5, 0.5]: a value is repeated": keywords, Python lists
    *(cli(f"eval-length-{flag}-{name}", lambda sb, flag=flag, value=value: [
        "eval", "length", sb.train_run(), "--out", "o", f"--{flag}", value], rf"^error: --{flag} '{value}': {expect}$")
      for flag, name, value, expect in (
          ("multiples", "zero", "0", r"give positive integers, e\.g\. 1,2,4,8,16"),
          ("multiples", "repeated", "1,1", r"a value is repeated; give each once"),
          ("depths", "past-the-window", "2", r"give passkey depths in \[0, 1\]"),
          ("depths", "nan", "nan", r"give passkey depths in \[0, 1\]"),
          ("depths", "repeated", "0.5,0.5", r"a value is repeated; give each once"))),
    # a flag the command reads no value of, typed with its default value, was ignored without a word
    cli("plan-calibration-table-with-the-default-gpu", ["plan", "--calibration-table", "--gpu", "h100-80gb"],
        r"^error: --calibration-table prints a fixed table and takes no other options; drop --gpu$"),
    cli("plan-table-with-the-default-weights", ["plan", "--table", "--weights", "bf16", "--gpus", "1"],
        r"^error: --table lists every weight format .*; --weights, --gpus do not apply to it: drop them$"),
    cli("plan-one-with-the-default-gpu-counts", ["plan", "--model", "scout", "--gpu-counts", "1,2,4,8"],
        r"^error: --gpu-counts '1,2,4,8': applies to --table only \(one plan uses --gpus\)$"),
    cli("bench-build-synthetic-with-the-default-trainer", [
        "bench", "build", "--out", "t.jsonl", "--synthetic", "--candidates", "4", "--max-steps", "32", "--max-trials",
        "2", "--trainer", "sonar.train.trainer:CorpusTrainer", "--device", "cpu"],
        r"^error: --synthetic: a modelled table trains and tunes nothing, so it reads no --trainer, --device$"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)
