"""Bad input found by a fourth sweep (the contract each case must meet: bad_input_cases.py). Each case was a
traceback, a silent acceptance, a misleading message or a file left behind before it was fixed."""

from __future__ import annotations

import json
import sqlite3

import pytest
from bad_input_cases import api, check_case, cli, params
from bad_input_sandbox import REAL_SPEC_CHANGES, Sandbox

import sonar


def _real_search(changes: dict, training: dict | None = None):
    """`sonar search` on the cheap real-backend spec with `changes` (dotted keys allowed) and `training` on top."""
    def argv(sb: Sandbox) -> list[str]:
        return ["search", sb.spec({**REAL_SPEC_CHANGES, "workload": {"kind": "decode", "context": 4},
                                   "training": {**REAL_SPEC_CHANGES["training"], **(training or {})}, **changes}),
                "--out", "run"]
    return argv


def _event_edited(seq: int, edit, holding: str | None = None):
    """A copy of the finished run whose event `seq` (with `holding`: the first from `seq` on whose payload holds
    that key, so the case does not hang on the policy's order of events) has its payload changed by
    `edit(payload)` in place."""
    def run(sb: Sandbox) -> str:
        name = sb.run()
        db = sqlite3.connect(sb.root / name / "search.db")
        rows = db.execute("SELECT seq, payload FROM events WHERE seq >= ? ORDER BY seq", (seq,)).fetchall()
        target, payload = next((n, json.loads(p)) for n, p in rows if holding is None or holding in json.loads(p))
        edit(payload)
        db.execute("UPDATE events SET payload = ? WHERE seq = ?", (json.dumps(payload), target))
        db.commit()
        db.close()
        return name
    return run


def _point(index: int, **changes):
    return lambda payload: payload["points"][index].update(changes)


LONE = "\\ud800"  # as JSON writes it: an escape that parses to a lone surrogate, which no UTF-8 encodes
WORDS_JSONL = "".join(json.dumps({"text": "the king and the queen lord " * 50}) + "\n" for _ in range(40))


def _posttrain(command: str, sb: Sandbox, *extra: str) -> list[str]:
    start = ["--preset", "debug"] if command == "sft" else ["--from", sb.checkpoint()]
    return ["posttrain", command, *start, "--steps", "1", "--out", "o", "--threads", "1", *extra]


def _tune_state(edit=None):
    """`sonar tune` resuming a one-trial tuning state (the shape SystemTuner writes), `edit(state)` spoiling it."""
    from sonar.systems import SystemConfig

    def argv(sb: Sandbox) -> list[str]:
        point = {"trial": 1, "seconds": 1.0, "config": SystemConfig().to_dict(), "latency_s": 0.001, "spread_s": 0.0,
                 "quality_delta": 0.0, "best_latency_s": 0.001, "failure": None, "extra": {"label": "fp32"}}
        state = {"version": 1, "workload": "decode:ctx=256,b=1", "candidate": "debug", "prior_snapshot": [],
                 "run_records": [], "points": [point], "samples": [[0.001]], "seconds": 1.0, "eager_stopped": None,
                 "stopped": None}
        if edit is not None:
            edit(state)
        sb.file("w/debug/systems/tune-decode-ctx-256-b-1.json", json.dumps(state))
        return ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w"]
    return argv


# The valid run's events (bad_input_sandbox.build_artefacts): 4 starts c000, 7 and 18 are train jobs done,
# 8 a tune job done, 9 starts c001 with its recorded ModelConfig.
CASES = [
    # trained on rows longer than the candidate reads, without a word (exit 0 after minutes)
    cli("search-real-seq-len-past-the-model", _real_search({"arch.max_position_embeddings": [64]},
                                                           {"seq_len": 100_000}),
        r"training\.seq_len: 100,000 tokens per row, but a candidate reads at most 64 positions"),
    # a run database edited by hand or written by something else: the fold took any value and status, report or
    # export failed later, wherever the value was first read, with a TypeError or an AttributeError
    cli("status-event-candidate-null", lambda sb: ["status", _event_edited(4, lambda p: p.update(candidate=None))(sb)],
        r"search\.db: event 4 \(decision\) cannot be read: .*candidate=None: must be a string"),
    cli("status-event-val-loss-null", lambda sb: ["status", _event_edited(7, _point(0, val_loss=None))(sb), "--json"],
        r"search\.db: event 7 \(job_done\) cannot be read: .*val_loss=None: must be a number"),
    cli("status-event-latency-word", lambda sb: ["status", _event_edited(8, _point(0, latency_s="fast"))(sb)],
        r"event 8 \(job_done\) cannot be read: .*latency_s='fast': must be a number"),
    cli("status-event-cost-negative", lambda sb: ["status", _event_edited(7, lambda p: p.update(cost_s=-5))(sb)],
        r"event 7 \(job_done\) cannot be read: .*cost_s=-5: must be a number >= 0"),
    cli("report-event-step-null",
        lambda sb: ["report", _event_edited(18, _point(0, step=None), holding="points")(sb), "--out", "r"],
        r"event \d+ \(job_done\) cannot be read: .*step=None: must be an integer"),
    cli("export-event-tuning-extra-number", lambda sb: [
        "export", _event_edited(8, _point(0, extra=-1))(sb), "--best", "--to", "out"],
        r"event 8 \(job_done\) cannot be read: .*extra=-1: must be an object"),
    cli("export-event-eos-null", lambda sb: [
        "export", _event_edited(9, lambda p: p["model"].update(eos_token_id=None))(sb), "--best", "--to", "out"],
        r"event 9 \(decision\) cannot be read: .*eos_token_id=None: must be a list of integers"),
    # a lone surrogate: JSON's \ud800 escape, or a byte the shell passed undecoded (Python reads $'\xff' as \udcff)
    cli("posttrain-sft-data-lone-surrogate", lambda sb: _posttrain("sft", sb, "--data", sb.file(
        "d.jsonl", '{"prompt": "' + LONE + '", "response": "b"}\n')),
        r"d\.jsonl line 1: \['prompt'\] hold a lone surrogate escape"),
    cli("posttrain-dpo-pairs-lone-surrogate", lambda sb: _posttrain("dpo", sb, "--pairs", sb.file(
        "p.jsonl", '{"prompt": "a", "chosen": "b", "rejected": "c' + LONE + '"}\n')),
        r"p\.jsonl line 1: \['rejected'\] hold a lone surrogate escape"),
    cli("train-corpus-jsonl-lone-surrogate", lambda sb: [
        "train", "--preset", "debug", "--steps", "1", "--vocab", "300", "--out", "r", "--threads", "1", "--corpus",
        sb.file("c.jsonl", WORDS_JSONL + '{"text": "a ' + LONE + ' b"}\n')],
        r"c\.jsonl:41: field 'text' holds a lone surrogate escape \('\\ud800' at character 2\)"),
    cli("eval-length-corpus-lone-surrogate", lambda sb: [
        "eval", "length", sb.train_run(), "--out", "o", "--threads", "1", "--corpus",
        sb.file("c.jsonl", WORDS_JSONL + '{"text": "' + LONE + '"}\n')], r"c\.jsonl:41: .*lone surrogate"),
    # an argument that is not UTF-8: a file name in Latin-1, say (Python reads the byte 0xff as \udcff)
    cli("demo-prompt-not-utf8", ["demo", "--out", "d", "--prompt", "\udcff"],  # failed after the whole search
        r"argument '\\udcff': not UTF-8 text \(byte 0xff at character 0\)"),
    cli("search-out-not-utf8", lambda sb: ["search", sb.spec(), "--out", "run-\udce9"],  # left run-?/search.db behind
        r"argument 'run-\\udce9': not UTF-8 text \(byte 0xe9 at character 4\)"),
    cli("export-to-not-utf8", lambda sb: ["export", sb.run(), "--best", "--to", "out\udcff"],  # wrote, then failed
        r"argument 'out\\udcff': not UTF-8 text"),
    cli("train-corpus-path-not-utf8", lambda sb: [
        "train", "--preset", "debug", "--steps", "1", "--vocab", "300", "--out", "r", "--threads", "1",
        "--corpus", sb.corpus("c\udce9")], r"argument '.*c\\udce9': not UTF-8 text \(byte 0xe9"),
    # a tuning state edited by hand: read as it stood, then a TypeError, ValueError or KeyError traceback
    cli("tune-state-seconds-null", _tune_state(lambda s: s["points"][0].update(seconds=None)),
        r"tune-decode-ctx-256-b-1\.json: not a readable tuning state \(point 0: 'seconds' must be a number\)",
        writes=("w",)),
    cli("tune-state-config-empty", _tune_state(lambda s: s["points"][0].update(config={})),
        r"tune-decode-ctx-256-b-1\.json: .*point 0: 'config' lacks \['compile', 'weights_routed'", writes=("w",)),
    cli("tune-state-config-unknown-format", _tune_state(lambda s: s["points"][0]["config"].update(weights_head="fp3")),
        r"tune-decode-ctx-256-b-1\.json: .*point 0: 'config' is not a system configuration", writes=("w",)),
    cli("tune-state-without-stopped", _tune_state(lambda s: s.pop("stopped")),
        r"tune-decode-ctx-256-b-1\.json: .*'stopped' must be a reason \(text\) or null", writes=("w",)),
    cli("tune-state-extra-without-label", _tune_state(lambda s: s["points"][0].update(extra={})),
        r"tune-decode-ctx-256-b-1\.json: .*point 0: 'extra' must hold the config's 'label'", writes=("w",)),
    cli("tune-state-speedup-word", _tune_state(lambda s: s["points"][0]["extra"].update(speedup_vs_default="x")),
        r"point 0: 'extra' 'speedup_vs_default' must be a number", writes=("w",)),
    # a speedup that was not finite is written as null: read back, printing it failed
    cli("tune-state-speedup-null", _tune_state(lambda s: s["points"][0]["extra"].update(speedup_vs_default=None)),
        "", ok=True, writes=("w",)),
    cli("tune-state-ok", _tune_state(), "", ok=True, writes=("w",)),
    # accepted, then save_pretrained failed on len(None)
    api("api-config-eos-none", lambda _: sonar.save_pretrained(sonar.build_model(sonar.ModelConfig(
        eos_token_id=None)), "out"), r"eos_token_id=None: must be a list of integers"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)
