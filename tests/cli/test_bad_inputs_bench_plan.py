"""Bad input to the bench commands, `sonar tune`, `sonar plan`, the search spec and `sonar export`, and JSON that
repeats a key (the contract each case must meet: bad_input_cases.py). Each case was accepted, hung, or failed
late (after output, or mid-run) before its fix."""

from __future__ import annotations

import json

import pytest
from bad_input_cases import check_case, cli, params
from bad_input_sandbox import Sandbox

import sonar

# -- helpers (small copies of test_bad_inputs.py's, so the two files stay independent) ----------------------


def _tune(*extra: str) -> list[str]:
    return ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w", *extra]


def _bench_tune(*extra: str) -> list[str]:
    return ["bench", "tune", "--trials", "1", "--train-steps", "0", "--workdir", "bt", *extra]


def _suite(sb: Sandbox, *extra: str) -> list[str]:
    return ["bench", "suite", sb.table(), "--seeds", "1", "--methods", "random", "--jobs", "1", "--out", "s.json",
            *extra]


def _ablate(sb: Sandbox, *extra: str) -> list[str]:
    return ["bench", "ablate", sb.table(), "--seeds", "1", "--jobs", "1", "--out", "a.json", *extra]


def _replay(sb: Sandbox, *extra: str) -> list[str]:
    return ["bench", "replay", sb.table(), "--seeds", "1", *extra]


def _search(sb: Sandbox, changes: dict, *extra: str) -> list[str]:
    return ["search", sb.spec(changes), "--out", "run", "--no-live", *extra]


def _repeat_first_key(text: str, key: str, value: str) -> str:
    """The JSON object `text` with `"key": value,` put in front of its first key: the key now appears twice."""
    return text.replace("{", "{" + json.dumps(key) + ": " + value + ", ", 1)


def _config_repeating(sb: Sandbox, key: str, value: str) -> str:
    """A directory holding the valid checkpoint's config.json with `key` given twice (the later value wins
    in a plain json.loads)."""
    text = (sb.artefacts.checkpoint / "config.json").read_text()
    return sb.file("cfg/config.json", _repeat_first_key(text, key, value))


def _ckpt_repeating(sb: Sandbox, key: str, value: str) -> str:
    ckpt = sb.checkpoint()
    path = sb.root / ckpt / "config.json"
    path.write_text(_repeat_first_key(path.read_text(), key, value))
    return ckpt


def _table_header_repeating(sb: Sandbox) -> str:
    name = sb.table()
    lines = (sb.root / name).read_text().splitlines()
    first = next(iter(json.loads(lines[0])))
    lines[0] = _repeat_first_key(lines[0], first, "1")
    (sb.root / name).write_text("\n".join(lines) + "\n")
    return name


def _load_pretrained(ckpt):
    from sonar.checkpoint import load_pretrained

    return load_pretrained(ckpt)


HUGE_STEPS = {"budget": {"max_steps": 1_000_000_000, "min_steps": 1, "max_trials": 3, "candidates": 3}}
HUGE_TRIALS = {"budget": {"max_steps": 30, "min_steps": 10, "max_trials": 1_000_000, "min_trials": 1,
                          "candidates": 3}}
SCALARIZED = {"kind": "scalarized", "weights": {"loss": 1.0, "latency_s": 200.0}}

# -- the table ---------------------------------------------------------------------------------------------

# 1. A budget the synthetic backend would write without end (62 MB of curve for one candidate, and counting).
SEARCH_SIZE = [
    cli("search-synthetic-steps-explode", lambda sb: _search(sb, HUGE_STEPS, "--backend", "synthetic",
                                                             "--executor", "simulated"),
        r"budget\.max_steps: 1,000,000,000 .*synthetic\.eval_every"),
    cli("search-synthetic-steps-explode-spec-backend", lambda sb: _search(sb, HUGE_STEPS),
        r"budget\.max_steps.*synthetic\.eval_every"),
    cli("search-synthetic-trials-explode", lambda sb: _search(sb, HUGE_TRIALS), r"budget\.max_trials: 1,000,000"),
]

# 2. `sonar tune` and `sonar bench tune`: every value checked before the live table or the first line of output.
TUNE = [
    cli("tune-seed-negative", _tune("--seed", "-1"), r"--seed -1"),
    cli("tune-seed-huge", _tune("--seed", "99999999999999999999999"), r"--seed 99999999999999999999999"),
    cli("tune-quality-limit-nan", _tune("--quality-limit", "nan"), r"--quality-limit nan"),
    cli("tune-out-under-a-file", lambda sb: _tune("--out", sb.file("f.txt", "mine") + "/curve.json"),
        r"--out f\.txt/curve\.json: f\.txt is a file"),
    cli("tune-compile-repeated", _tune("--compile", "eager,eager"), r"--compile 'eager,eager'.*twice"),
    cli("bench-tune-archs-empty", _bench_tune("--archs", ""), r"--archs ''"),
    cli("bench-tune-archs-comma", _bench_tune("--archs", ","), r"--archs ','"),
    cli("bench-tune-archs-repeated", _bench_tune("--archs", "tiny,tiny"), r"--archs 'tiny,tiny'.*twice"),
    cli("bench-tune-train-steps-huge", ["bench", "tune", "--workdir", "bt", "--train-steps", "99999999999999999"],
        r"--train-steps 99999999999999999"),
]

# 3 and 4. The bench commands: the replay's latency bound, empty and repeated lists, quantiles, seeds.
BENCH = [
    cli("replay-latency-above-engine-bound", lambda sb: _replay(sb, "--methods", "random,sonar", "--latency-limit",
                                                                "5000"), r"--latency-limit 5000"),
    cli("replay-latency-above-engine-bound-random-only", lambda sb: _replay(sb, "--methods", "random",
                                                                            "--latency-limit", "5000"),
        r"--latency-limit 5000"),
    cli("replay-latency-in-pareto-mode", lambda sb: _replay(sb, "--mode", "pareto", "--latency-limit", "0.01"),
        r"--latency-limit 0\.01.*constraint"),
    cli("replay-mode-empty", lambda sb: _replay(sb, "--mode", ""), r"--mode '': choose one of"),
    cli("ablate-switch-empty", lambda sb: _ablate(sb, "--switch", ""), r"--switch ''"),
    cli("ablate-switch-comma", lambda sb: _ablate(sb, "--switch", ","), r"--switch ','"),
    cli("ablate-switch-repeated", lambda sb: _ablate(sb, "--switch", "forecast,forecast"),
        r"--switch 'forecast,forecast'.*twice"),
    cli("ablate-quantile-zero", lambda sb: _ablate(sb, "--quantiles", "0"), r"--quantiles '0'.*between 0 and 1"),
    cli("ablate-quantile-one", lambda sb: _ablate(sb, "--quantiles", "1"), r"--quantiles '1'.*between 0 and 1"),
    cli("suite-quantile-zero", lambda sb: _suite(sb, "--quantiles", "0"), r"--quantiles '0'.*between 0 and 1"),
    cli("suite-quantile-one", lambda sb: _suite(sb, "--quantiles", "0.5,1"), r"--quantiles '0\.5,1'"),
    cli("suite-methods-repeated", lambda sb: ["bench", "suite", sb.table(), "--seeds", "1", "--jobs", "1", "--out",
                                              "s.json", "--methods", "random,random"],
        r"--methods 'random,random'.*twice"),
    cli("suite-methods-empty", lambda sb: ["bench", "suite", sb.table(), "--seeds", "1", "--jobs", "1", "--out",
                                           "s.json", "--methods", ""], r"--methods ''"),
    cli("suite-rules-repeated", lambda sb: _suite(sb, "--rules", "completed,completed"),
        r"--rules 'completed,completed'.*twice"),
    cli("synth-suite-seed-huge", ["bench", "synth-suite", "--out", "ss", "--count", "1", "--seed",
                                  "99999999999999999999"], r"--seed 99999999999999999999"),
    cli("synth-suite-seed-negative", ["bench", "synth-suite", "--out", "ss", "--count", "1", "--seed", "-1"],
        r"--seed -1"),
]

# 5. `sonar plan`: digits other than ASCII, and a bandwidth that overflows.
PLAN = [
    cli("plan-context-arabic-indic-digit", ["plan", "--model", "scout", "--context", "\u0663K"],
        r"--context '\u0663K'"),
    cli("plan-context-full-width-digit", ["plan", "--model", "scout", "--context", "\uff13K"], r"--context '\uff13K'"),
    cli("plan-table-gpu-counts-arabic-indic", ["plan", "--table", "--gpu-counts", "\u0663"], r"--gpu-counts"),
    cli("plan-gpu-capacity-arabic-indic", ["plan", "--model", "scout", "--gpu", "\u0669\u0666GB"], r"GPU"),
    cli("plan-hbm-tbps-overflows", ["plan", "--model", "scout", "--hbm-tbps", "1e308"], r"--hbm-tbps 1e\+308"),
]

# 6. JSON that names a key twice: the last value used to win without a word (YAML refuses it).
DUPLICATE_KEYS = [
    cli("plan-config-repeated-key", lambda sb: ["plan", "--model", _config_repeating(sb, "vocab_size", "512")],
        r"config\.json.*duplicate key 'vocab_size'"),
    cli("tune-checkpoint-config-repeated-key", lambda sb: ["tune", "--checkpoint", _ckpt_repeating(
        sb, "hidden_size", "64"), "--trials", "1", "--workdir", "w"], r"config\.json.*duplicate key 'hidden_size'"),
    cli("replay-table-header-repeated-key", lambda sb: ["bench", "replay", _table_header_repeating(sb), "--seeds",
                                                        "1"], r"table\.jsonl:1.*duplicate key"),
]

# 7. The search spec: weights that reward the wrong thing, an address no executor reads, a candidate never drawn.
SPEC = [
    cli("spec-weight-negative", lambda sb: _search(sb, {"objective": {"kind": "scalarized", "weights": {
        "loss": -1, "latency_s": 1}}}), r"objective\.weights\.loss: -1"),
    cli("spec-weights-all-zero", lambda sb: _search(sb, {"objective": {"kind": "scalarized", "weights": {
        "loss": 0, "latency_s": 0}}}), r"objective\.weights"),
    cli("spec-address-not-ray", lambda sb: _search(sb, {"executor": {"kind": "simulated", "address": "1.2.3.4:1"}}),
        r"executor\.address"),
    cli("spec-fail-unknown-candidate", lambda sb: _search(sb, {"synthetic": {"noise": 0.01, "eval_every": 10,
                                                                              "fail": {"c999": "oom"}}}),
        r"synthetic\.fail\.c999"),
    # correct behaviour: a ray spec's address is dropped, not refused, when the CLI runs it on another executor
    cli("spec-ray-address-run-simulated", lambda sb: _search(sb, {"executor": {
        "kind": "ray", "address": "1.2.3.4:1", "workers": 1}}, "--executor", "simulated"), "", ok=True,
        writes=("run",)),
    cli("spec-scalarized-ok", lambda sb: _search(sb, {"objective": SCALARIZED}), "", ok=True, writes=("run",)),
]

# 8. `sonar export` into the run it exports from.
EXPORT = [
    cli("export-into-run-dir", lambda sb: ["export", sb.run(), "--best", "--to", "run/sub"], r"--to run/sub.*inside"),
    cli("export-deep-inside-run-dir", lambda sb: ["export", sb.run(), "--best", "--to", "run/candidates/x"],
        r"--to run/candidates/x.*inside"),
]

SYNTHETIC_BUILD = [
    cli("bench-build-synthetic-reads-no-trainer", ["bench", "build", "--synthetic", "--out", "t.jsonl", "--candidates",
                                                   "2", "--max-steps", "8", "--trainer", "no.such:X", "--compile-top-k",
                                                   "5"], r"--synthetic: .* reads no --trainer, --compile-top-k"),
    cli("bench-build-synthetic-reads-no-device", ["bench", "build", "--synthetic", "--out", "t.jsonl", "--candidates",
                                                  "2", "--max-steps", "8", "--device", "cuda"], r"reads no --device"),
    cli("bench-train-presets-repeated", ["bench", "train", "--presets", "debug,debug"], r"debug named more than once"),
]

CASES = [*SEARCH_SIZE, *TUNE, *BENCH, *PLAN, *DUPLICATE_KEYS, *SPEC, *EXPORT, *SYNTHETIC_BUILD]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def test_load_pretrained_refuses_a_repeated_config_key(sandbox):
    ckpt = _ckpt_repeating(sandbox, "vocab_size", "100000")
    with pytest.raises(sonar.UserError, match=r"config\.json.*duplicate key 'vocab_size'"):
        _load_pretrained(sandbox.root / ckpt)


def test_strict_json_refuses_repeated_keys_at_any_depth():
    from sonar import strict_json

    assert strict_json.loads('{"a": {"b": 1}, "c": [{"b": 2}]}') == {"a": {"b": 1}, "c": [{"b": 2}]}
    with pytest.raises(json.JSONDecodeError, match=r"^duplicate key 'x'$"):
        strict_json.loads('{"a": [{"x": 1, "x": 2}]}')
