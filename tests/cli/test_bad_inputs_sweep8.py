"""Bad input found by an eighth sweep, over bench train, build, replay, suite, ablate and demo (the contract each
case must meet: bad_input_cases.py). Each case named a Python keyword rather than the flag typed, was refused
only once the work had run, or replayed a variant that is SONAR itself under another name."""

from __future__ import annotations

import pytest
import torch
from bad_input_cases import check_case, cli, overridden, params
from bad_input_sandbox import Sandbox
from typer.testing import CliRunner

import sonar.cli.demo as demo_cli
from sonar.cli import app

HUGE = "1000000000000"
_BENCH_TRAIN = ["bench", "train", "--presets", "debug", "--steps", "1"]
_BUILD = ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--max-steps", "8", "--max-trials", "1"]


@pytest.fixture(autouse=True)
def no_gpu_and_no_demo_search(monkeypatch):
    """Every case runs as on a machine without a GPU (a present one would start the work the case expects
    refused), and a demo that reaches its search fails at once rather than searching for minutes."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def search_ran(**_):
        raise AssertionError("the demo's search ran")

    monkeypatch.setattr(demo_cli, "search", search_ran)


def _suite(sb: Sandbox, *extra: str) -> list[str]:
    return overridden(["bench", "suite", sb.table(), "--out", "s.json", "--seeds", "1", "--jobs", "1", "--rules",
                       "completed"], *extra)


def _ablate(sb: Sandbox, *extra: str) -> list[str]:
    return overridden(["bench", "ablate", sb.table("a.jsonl"), sb.table("b.jsonl"), "--seeds", "1", "--jobs", "1"],
                      *extra)


def _replay(*extra: str):
    return lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--methods", "random", *extra]


def _resume_with_settings(sb: Sandbox, changes: dict, *extra: str) -> list[str]:
    """`sonar train --resume` of a trained run whose train_config.json holds `changes`."""
    sb.edit_json(f"{sb.train_run()}/train_config.json", lambda settings: settings | changes)
    return ["train", "--out", "trained", "--resume", "--threads", "1", *extra]


def _copied(sb: Sandbox, arg: str) -> str:
    """An argument, with CKPT and RUN put as a checkpoint and a `sonar train` run copied into the sandbox."""
    return {"CKPT": sb.checkpoint, "RUN": sb.train_run}.get(arg, lambda: arg)()


def _words(count: int) -> str:
    """A prompt of `count` words: each one at least one token, whatever the demo's BPE learns."""
    return "word " * count


CASES = [
    # "steps=0: ...", "batch_size=0: ...", "seq_len=...": the keywords of the settings underneath
    cli("bench-train-steps-zero", [*_BENCH_TRAIN[:4], "--steps", "0"],
        r"--steps 0: the benchmark measures at least one step"),
    cli("bench-train-batch-size-zero", [*_BENCH_TRAIN, "--batch-size", "0"], r"--batch-size 0: must be an integer"),
    cli("bench-train-seq-len-negative", [*_BENCH_TRAIN, "--seq-len", "-5"], r"--seq-len -5: must be an integer"),
    # "no training settings for preset ''", naming neither the flag nor what was typed
    *(cli(f"bench-train-presets-{name}", ["bench", "train", "--presets", value, "--steps", "1"],
          rf"--presets '{shown}': no training settings for preset '{bad}'; choose one of \['debug', 'medium',")
      for name, value, shown, bad in (("comma", ",", ",", ""), ("unknown", "nope", "nope", "nope"),
                                      ("one-unknown", "debug,nope", "debug,nope", "nope"),
                                      ("one-empty", "debug,,tiny", "debug,,tiny", ""))),
    cli("train-preset-without-training-settings", ["train", "--preset", "scout", "--out", "r"],
        r"--preset 'scout': no training settings for preset 'scout'; choose one of \['debug', 'medium', 'small'"),
    # "device='gpu': must be ...", "device='cuda': no CUDA device ...; use device=cpu"
    cli("bench-train-device-misspelt", [*_BENCH_TRAIN, "--device", "gpu"],
        r"--device 'gpu': must be cpu, cuda or cuda:N"),
    cli("bench-train-device-absent", [*_BENCH_TRAIN, "--device", "cuda:3"],
        r"--device 'cuda:3': no CUDA device is available here .*; use --device cpu$"),
    cli("train-device-misspelt", ["train", "--preset", "debug", "--steps", "1", "--out", "r", "--device", "CPU"],
        r"--device 'CPU': must be cpu, cuda or cuda:N"),
    cli("train-device-absent", ["train", "--preset", "debug", "--steps", "1", "--out", "r", "--device", "cuda"],
        r"--device 'cuda': no CUDA device is available here .*; use --device cpu$"),
    cli("bench-build-device-misspelt", [*_BUILD, "--device", "gpu"], r"--device 'gpu': must be cpu, cuda or cuda:N"),
    cli("bench-build-device-absent", [*_BUILD, "--device", "cuda"],
        r"--device 'cuda': no CUDA device is available here .*; use --device cpu$"),
    # "device='cuda': ...; use device=cpu", of a device given as --target
    cli("bench-build-target-absent", [*_BUILD, "--target", "cuda"],
        r"--target 'cuda': no CUDA device is available here .*; use --target cpu$"),
    # "steps=0: ...", "seq_len=0: ...", "vocab_size=0: ...", "tokenizer='nope': ...": the settings' keywords
    *(cli(f"train-{name}", ["train", "--preset", "debug", "--out", "r", *argv], expect)
      for name, argv, expect in (
          ("steps-zero", ["--steps", "0"], r"--steps 0: must be between 1 and 1,000,000,000"),
          ("seq-len-zero", ["--seq-len", "0"], r"--seq-len 0: must be an integer >= 1"),
          ("seq-len-past-the-model", ["--seq-len", "100000"], r"--seq-len 100000: preset 'debug' reads at most"),
          ("vocab-zero", ["--vocab", "0"], r"--vocab 0: must be an integer from 1 to"),
          ("tokenizer-unknown", ["--tokenizer", "nope"], r"--tokenizer 'nope': choose one of \['bpe', 'byte'\]"))),
    # "trained/train_config.json: threads=0: ...": on --resume the typed --threads was blamed on the run's file
    cli("train-resume-threads-zero", lambda sb: ["train", "--out", sb.train_run(), "--resume", "--threads", "0"],
        r"^error: --threads 0: must be between 1 and 1,024$"),
    # correct already, and kept: a bad value the resumed run's file holds names the file, even beside the flag
    cli("train-resume-seq-len-bad-in-the-file", lambda sb: _resume_with_settings(
        sb, {"seq_len": 0}, "--steps", "4", "--seq-len", "32"),
        r"^error: trained/train_config\.json: seq_len=0: must be an integer >= 1$"),
    cli("train-resume-schedule-bad-in-the-file", lambda sb: _resume_with_settings(sb, {"schedule_steps": 0}, "--steps",
                                                                                   "4"),
        r"^error: trained/train_config\.json: schedule_steps=0: must be"),
    # "seeds=0: must be between 1 and 10,000", "jobs=...": the suite's settings, not the flags
    *(cli(f"{command}-{flag}-{name}", lambda sb, run=run, flag=flag, value=value: run(sb, f"--{flag}", value),
          rf"--{flag} {value}: must be between 1 and {most}")
      for command, run in (("suite", _suite), ("ablate", _ablate))
      for flag, most in (("seeds", "10,000"), ("jobs", "1,024"))
      for name, value in (("zero", "0"), ("negative", "-3"), ("huge", HUGE))),
    # "mode 'bogus': choose one of [...]": the suite's and the objective's keyword, once the tables were found
    *(cli(f"{command}-mode-unknown{where}", argv, r"--mode 'bogus': choose one of constraint, pareto$")
      for command, where, argv in (
          ("suite", "", lambda sb: _suite(sb, "--mode", "bogus")),
          ("suite", "-before-the-tables", ["bench", "suite", "missing.jsonl", "--mode", "bogus"]),
          ("replay", "", _replay("--mode", "bogus")),
          ("replay", "-before-the-table", ["bench", "replay", "missing.jsonl", "--mode", "bogus"]))),
    # "methods ['nope'] are not available in ... mode", naming neither the flag nor what was typed; replay's
    # "--methods: ['nope'] are not available" named the flag, not its value
    cli("suite-methods-unknown", lambda sb: _suite(sb, "--methods", "sonar,nope"),
        r"--methods 'sonar,nope': nope is not available in constraint mode; choose from asha_arch_only, .*,"
        r" sonar-without-RULE, sonar-with-RULE$"),
    cli("suite-methods-of-the-other-mode", lambda sb: _suite(sb, "--mode", "pareto", "--methods", "hyperband_joint"),
        r"--methods 'hyperband_joint': hyperband_joint is not available in pareto mode; choose from"),
    cli("suite-methods-unknown-before-the-tables", ["bench", "suite", "missing.jsonl", "--methods", "nope"],
        r"--methods 'nope': nope is not available in constraint mode"),
    cli("replay-methods-unknown", lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--methods",
                                              "random,nope"],
        r"--methods 'random,nope': nope is not available in constraint mode; choose from brute_force, random"),
    # "recommendation rule 'nope': choose one of [...]", naming no flag
    cli("suite-rules-unknown", lambda sb: ["bench", "suite", sb.table(), "--seeds", "1", "--jobs", "1", "--rules",
                                           "completed,nope"],
        r"--rules 'completed,nope': unknown recommendation rule nope; choose from completed, checkpoint$"),
    cli("ablate-rules-unknown", lambda sb: _ablate(sb, "--rules", "nope"),
        r"--rules 'nope': unknown recommendation rule nope; choose from completed, checkpoint$"),
    cli("replay-rule-unknown", _replay("--rule", "nope"),
        r"--rule 'nope': unknown recommendation rule nope; choose from completed, checkpoint$"),
    # "--switch ['nope']: unknown rules": a Python list, not what was typed
    cli("ablate-switch-unknown", lambda sb: _ablate(sb, "--switch", "forecast+nope"),
        r"--switch 'forecast\+nope': unknown scheduler rule nope; known: forecast, "),
    # "latency_limit_s=nan: constraint mode needs a finite limit > 0", the Objective's field, once the table was read
    *(cli(f"replay-latency-limit-{name}", _replay("--latency-limit", value),
          rf"--latency-limit {shown}: must be a finite number of seconds > 0")
      for name, value, shown in (("zero", "0", r"0\.0"), ("negative", "-1", r"-1\.0"), ("nan", "nan", "nan"),
                                 ("inf", "inf", "inf"))),
    cli("replay-latency-limit-checked-before-the-table-is-read", ["bench", "replay", "t.jsonl", "--latency-limit", "0"],
        r"--latency-limit 0\.0: must be a finite number"),
    # "steps=0: ...", "group_size=0: ...", "per_cell=0: ...", "windows=0: ...": the stage settings' keywords
    *(cli(f"{'-'.join(argv[:2])}-{flag}-zero", lambda sb, argv=argv, flag=flag: [
        *(_copied(sb, arg) for arg in argv), f"--{flag}", "0"], rf"^error: --{flag} 0(\.0)?: must")
      for argv, flags in (
          (["posttrain", "sft", "--preset", "debug", "--out", "o"], ("steps", "batch-size", "lr")),
          (["posttrain", "rl", "--from", "CKPT", "--out", "o"], ("group-size", "prompts-per-step", "temperature",
                                                                 "start-level", "save-every")),
          (["posttrain", "dpo", "--from", "CKPT", "--out", "o"], ("beta",)),
          (["posttrain", "distill", "--teacher", "CKPT", "--preset", "debug", "--out", "o"], ("temperature",)),
          (["eval", "tasks", "CKPT"], ("per-cell",)),
          (["eval", "length", "RUN", "--out", "o"], ("windows", "cache-block")))
      for flag in flags),
    cli("posttrain-sft-prune-unknown", ["posttrain", "sft", "--preset", "debug", "--out", "o", "--prune", "nope"],
        r"--prune 'nope': choose one of"),
    # correct already, and kept: a value given in --settings is named as it was given there
    cli("posttrain-dpo-settings-keep-their-names", lambda sb: ["posttrain", "dpo", "--from", sb.checkpoint(), "--out",
                                                               "o", "--settings", "beta=0"],
        r"^error: beta=0\.0: must"),
    # refused by `generate` only once the whole default search had run, minutes later
    cli("demo-prompt-past-positions", ["demo", "--out", "d", "--prompt", _words(5000)],
        r"--prompt 'word word word word …' \(25,000 characters\): at least 5,00\d tokens, and with --new-tokens 80"
        r" that is more than the 4,096 positions the demo's models read"),
    cli("demo-prompt-and-new-tokens-past-positions", ["demo", "--out", "d", "--prompt", _words(3000),
                                                      "--new-tokens", "2000"],
        r"--prompt 'word word word word …' \(15,000 characters\): at least 3,00\d tokens, and with --new-tokens"
        r" 2,000 that is more than the 4,096 positions"),
    # replayed in full, the variant SONAR itself: the rule it flips never acts in the suite's mode
    cli("suite-methods-pareto-only-rule-in-constraint-mode", lambda sb: _suite(
        sb, "--methods", "sonar,sonar-without-front_promotion"),
        r"--methods 'sonar-without-front_promotion': front_promotion acts in Pareto mode only, and the suite"
        r" replays constraint mode, where flipping it changes nothing; leave it out, or replay it in the --mode it"
        r" acts in"),
    cli("suite-methods-group-with-pareto-only-rule", lambda sb: _suite(
        sb, "--methods", "sonar-without-forecast+front_extenders"),
        r"--methods 'sonar-without-forecast\+front_extenders': front_extenders acts in Pareto mode only, and the"
        r" suite replays constraint mode; leave it out of the group"),
    cli("suite-methods-constraint-only-rule-in-pareto-mode", lambda sb: _suite(
        sb, "--mode", "pareto", "--methods", "sonar-without-tuning_pays"),
        r"--methods 'sonar-without-tuning_pays': tuning_pays acts in constraint mode only, and the suite replays"
        r" Pareto mode, where flipping it changes nothing"),
    # "rules ['nope']: unknown; known: ...", naming neither the flag nor the method
    cli("suite-methods-variant-of-an-unknown-rule", lambda sb: _suite(sb, "--methods", "sonar-without-nope"),
        r"--methods 'sonar-without-nope': unknown rule nope; known: forecast, "),
    # replayed in full, the variant SONAR itself: it sets a rule to the state SONAR's policy already gives it
    cli("suite-methods-with-a-rule-already-on", lambda sb: _suite(sb, "--methods", "sonar-with-forecast"),
        r"--methods 'sonar-with-forecast': forecast is on in SONAR's policy already, so this variant is SONAR itself;"
        r" the variant that flips it is sonar-without-forecast"),
    cli("suite-methods-without-a-rule-already-off", lambda sb: _suite(sb, "--methods", "sonar-without-eliminate"),
        r"--methods 'sonar-without-eliminate': eliminate is off in SONAR's policy already, .* is sonar-with-eliminate"),
    cli("suite-methods-group-with-a-rule-already-off", lambda sb: _suite(
        sb, "--methods", "sonar-without-forecast+eliminate"),
        r"--methods 'sonar-without-forecast\+eliminate': eliminate is off in SONAR's policy already; leave it out of"
        r" the group"),
    # correct: in Pareto mode the Pareto-only rule acts, and the variant is replayed
    cli("suite-methods-pareto-only-rule-in-pareto-mode", lambda sb: _suite(
        sb, "--mode", "pareto", "--methods", "sonar-without-front_promotion"), "", ok=True,
        writes=("s.json", "s.work.jsonl")),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def test_a_demo_prompt_of_few_words_is_counted_in_the_demos_own_tokens(sandbox, monkeypatch):
    # one word of 5,000 letters: the words alone cannot tell, so the prompt is counted with the tokenizer the
    # search trains its candidates on; here a byte tokenizer, one token per letter
    from sonar.data.tokenizer import ByteTokenizer

    monkeypatch.setattr(demo_cli, "demo_tokenizer", lambda: ByteTokenizer())
    refused = CliRunner().invoke(app, ["demo", "--out", "d", "--prompt", "a" * 5000])
    assert refused.exit_code == 2, refused.output
    assert "--prompt 'aaaaaaaaaaaaaaaaaaaa…' (5,000 characters): 5,000 tokens, and with --new-tokens 80" in \
        refused.stderr, refused.stderr
    fits = CliRunner().invoke(app, ["demo", "--out", "d", "--prompt", "a" * 3000])
    assert "the demo's search ran" in str(fits.exception)  # counted, found to fit, and on to the search
    assert not (sandbox.root / "d").exists()


def test_a_short_demo_prompt_needs_no_tokenizer(sandbox, monkeypatch):
    # its bytes bound its tokens: no corpus is prepared before the search for the default prompt
    def counted():
        raise AssertionError("the demo's tokenizer was prepared")

    monkeypatch.setattr(demo_cli, "demo_tokenizer", counted)
    result = CliRunner().invoke(app, ["demo", "--out", "d"])
    assert "the demo's search ran" in str(result.exception)


def test_the_words_of_a_prompt_are_no_more_than_its_bpe_tokens(sandbox):
    # the demo refuses a prompt on its word count before its BPE is trained: that count must never exceed the
    # tokens any BPE sonar trains gives the prompt
    from sonar.cli.demo import fewest_tokens
    from sonar.data.tokenizer import train_bpe

    texts = [path.read_text() for path in sorted((sandbox.root / sandbox.corpus()).iterdir())]
    tokenizer = train_bpe(texts, 300)
    for prompt in ("ROMEO.\n", "the king  the queen\n\n  sword", "  a\tb\r\nc!?", "日本語 テキスト", "x" * 50,
                   *texts[:2]):
        assert fewest_tokens(prompt) <= len(tokenizer.encode_batch([prompt])[0]), prompt


@pytest.mark.parametrize("mode", ["constraint", "pareto"])
def test_a_rule_refused_as_idle_in_a_mode_changes_nothing_there(tmp_path, mode):
    # the CLI's lists of rules that act in one mode only mirror the mode checks in search/schedulers: flipped in
    # the other mode, each must replay exactly as SONAR does, while flipping `forecast` shows the table can tell
    from sonar.bench.ablate import variant
    from sonar.bench.suite import SuiteSettings, run_suite
    from sonar.bench.synthetic import synthetic_table
    from sonar.bench.table import write_table
    from sonar.cli.bench_method_flags import IDLE_RULES
    from sonar.search.schedulers.policy import RULE_NAMES

    assert set(IDLE_RULES[mode]) <= set(RULE_NAMES)
    built = synthetic_table(candidates=12, max_steps=64, max_trials=9, seed=0)
    write_table(tmp_path / "t.jsonl", built.header, built.candidates)
    idle = [variant(rule) for rule in IDLE_RULES[mode]]
    settings = SuiteSettings(tables=(tmp_path / "t.jsonl",), seeds=1, rules=("completed",), jobs=1, mode=mode,
                             methods=("sonar", variant("forecast"), *idle))
    rows = run_suite(settings, tmp_path / "w.jsonl")

    def figures(method: str) -> list[tuple]:
        return sorted((r["quantile"] or 0, r["seed"], r["speedup_1pct"], r["anytime_area"]) for r in rows
                      if r["method"] == method)

    assert figures(variant("forecast")) != figures("sonar")
    assert [name for name in idle if figures(name) != figures("sonar")] == []
