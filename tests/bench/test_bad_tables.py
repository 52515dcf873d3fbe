"""Benchmark tables that parse as JSON but record something impossible: a latency of 0 or of days, a negative or
zero loss, every run diverged, one architecture twice, a trace longer than the header allows, objective defaults
that no pair meets. Each must either replay sensibly or be refused with one `error:` line (exit 2) naming the file
and the field or candidate at fault; the loader raises the same message as a TableError. Cases marked "before:"
were a traceback, a message naming no file (or a search-spec field), or a silently wrong figure; the rest pin
refusals that were already right. The last tests keep the legitimate edge cases replaying."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sonar.bench.regret import Pick, Scorer, objective_from_table
from sonar.bench.synthetic import synthetic_table
from sonar.bench.table import candidate_to_json, header_to_json, load_table
from sonar.cli.app import app
from sonar.errors import UserError


@pytest.fixture(scope="module")
def records() -> tuple[dict, list[dict]]:
    """A valid table's header and candidate records (4 candidates, checkpoints 8, 16, 32, 4 trials each)."""
    table = synthetic_table(candidates=4, max_steps=32, max_trials=4, seed=0)
    return header_to_json(table.header), [candidate_to_json(c) for c in table.candidates]


def _write(path: Path, records, edit=None, *, prefix: str = "") -> Path:
    header, candidates = copy.deepcopy(records)
    if edit is not None:
        edit(header, candidates)
    path.write_text(prefix + "\n".join(json.dumps(r) for r in [header, *candidates]) + "\n", encoding="utf-8")
    return path


# -- edits of (header, candidates) ---------------------------------------------------------------------------------

def _header(**changes):
    return lambda h, cs: h.update(changes)


def _objective(**changes):
    return lambda h, cs: h["objective"].update(changes)


def _knob_space(space):
    return lambda h, cs: h.update(knob_space={"space": space})


def _candidate(i, **changes):
    return lambda h, cs: cs[i].update(changes)


def _curve(i, j, **changes):
    return lambda h, cs: cs[i]["curve"][j].update(changes)


def _trial(i, j, **changes):
    return lambda h, cs: cs[i]["tuning"][j].update(changes)


def _each_candidate(edit):
    def apply(h, cs):
        for c in cs:
            edit(c)
    return apply


def _points(key, edit):
    """`edit(point)` on every point of every candidate's `key` list (curve or tuning)."""
    return _each_candidate(lambda c: [edit(p) for p in c[key]])


def _checkpoints(steps):
    """The header's checkpoints and every curve re-recorded at `steps` (losses falling, seconds growing)."""
    def apply(h, cs):
        h["checkpoints"] = steps
        for c in cs:
            last = c["curve"][-1]
            c["curve"] = [dict(last, step=s, tokens=s * 1024, seconds=last["seconds"] * s / steps[-1],
                               val_loss=last["val_loss"] + 0.3 * (len(steps) - 1 - k)) for k, s in enumerate(steps)]
    return apply


def _diverge_after_first(h, cs):
    """Every candidate but c000 diverges after its first checkpoint (val loss null from then on)."""
    for c in cs[1:]:
        for point in c["curve"][1:]:
            point.update(val_loss=None, train_loss=None)


def _keep_the_first(candidates: list) -> None:
    del candidates[1:]


def _repeat_model(h, cs):
    cs[1]["model"] = copy.deepcopy(cs[0]["model"])


def _extra_trial(h, cs):
    last = cs[0]["tuning"][-1]
    cs[0]["tuning"].append(dict(last, trial=last["trial"] + 1, seconds=last["seconds"] + 1.0))


def _train_for_free(h, cs):
    for point in cs[0]["curve"] + cs[0]["tuning"]:
        point["seconds"] = 0.0


# -- the cases -----------------------------------------------------------------------------------------------------

# (id, edit, commands, expected message): each command must refuse the table with the message. Commands: load
# (sonar.bench.load_table), replay, pareto (replay --mode pareto), oracle, suite, ablate (beside a valid table).
CASES = [
    # latencies: 0 broke every Pareto score with a `math domain error` traceback; past an hour (and a header limit
    # past it) every engine replay failed naming the spec's `objective.latency_s`; 1e300 on one trial was taken in
    ("latency-zero", _trial(0, 0, latency_s=0.0), ("load", "replay", "pareto", "oracle"),
     r"t\.jsonl:2 \(candidate c000\) tuning\[0\]: field 'latency_s' should be > 0 and at most 3600 "
     r"\(null: a failed trial\), got 0\.0"),
    ("latency-past-an-hour", _points("tuning", lambda t: t.update(latency_s=1e4)), ("replay", "suite", "ablate"),
     r"t\.jsonl:2 \(candidate c000\) tuning\[0\]: field 'latency_s' should be > 0 and at most 3600.*got 10000\.0"),
    ("latency-1e300-one-trial", _trial(2, 3, latency_s=1e300), ("load", "replay"),
     r"t\.jsonl:4 \(candidate c002\) tuning\[3\]: field 'latency_s'.*got 1e\+300"),
    ("best-latency-zero", _trial(0, 0, best_latency_s=0.0), ("load",), r"field 'best_latency_s' should be > 0"),
    ("header-latency-limit-past-an-hour", _objective(latency_limit_s=7200.0), ("replay",),
     r"t\.jsonl:1 objective: field 'latency_limit_s' is 7200\.0, it must be > 0 and at most 3600 seconds"),
    # losses: a final val loss of 0 was a ZeroDivisionError, negative ones a ValueError in the forecasts (or taken
    # in silently, one at a time), 1e300 overflowed numpy's fits
    ("val-loss-zero", _curve(0, 2, val_loss=0.0), ("load", "replay", "oracle", "suite"),
     r"t\.jsonl:2 \(candidate c000\) curve\[2\]: field 'val_loss' should be > 0 and at most 1e\+06 "
     r"\(null: a diverged run\), got 0\.0"),
    ("val-loss-negative-everywhere", _points("curve", lambda p: p.update(val_loss=-p["val_loss"])), ("replay",),
     r"curve\[0\]: field 'val_loss' should be > 0.*got -6\.2"),
    ("val-loss-negative-one", _curve(1, 2, val_loss=-1.0), ("load",), r"t\.jsonl:3 \(candidate c001\) curve\[2\]"),
    ("train-loss-negative", _curve(0, 1, train_loss=-0.5), ("load",),
     r"curve\[1\]: field 'train_loss' should be >= 0 and at most 1e\+06"),
    ("val-loss-1e300", _curve(1, 2, val_loss=1e300), ("load", "pareto"), r"field 'val_loss'.*got 1e\+300"),
    # every run diverged: the constraint replay printed failures and null regrets as a result, Pareto and the
    # oracle divided by zero
    ("every-run-diverged", _points("curve", lambda p: p.update(val_loss=None)), ("load", "replay", "pareto",
                                                                                 "oracle", "suite"),
     r"t\.jsonl: every candidate's final val_loss is null \(diverged\)"),
    # nothing to recommend: the message named no file
    ("no-candidates", lambda h, cs: cs.clear(), ("load", "replay", "suite"),
     r"t\.jsonl: holds no candidate records"),
    ("every-trial-failed", _points("tuning", lambda t: t.update(failure="oom", latency_s=None, best_latency_s=None)),
     ("load", "replay", "pareto"), r"t\.jsonl: no candidate with a finite final val_loss has a tuning trial that ran"),
    ("no-tuning-recorded", _each_candidate(lambda c: c.update(tuning=[])), ("load", "ablate"),
     r"t\.jsonl: no candidate with a finite final val_loss has a tuning trial that ran"),
    ("every-trial-past-the-quality-bound", _points("tuning", lambda t: t.update(quality_delta=1.0)),
     ("replay", "oracle", "suite"), r"t\.jsonl: no candidate with a finite final val_loss has a tuning trial that "
                                    r"ran within quality delta <= 0\.05"),
    ("pareto-every-trial-past-the-quality-bound", _points("tuning", lambda t: t.update(quality_delta=1.0)),
     ("pareto",), r"t\.jsonl: no \(model, config\) pair has quality delta <= 0\.05"),
    ("header-latency-limit-met-by-none", _objective(latency_limit_s=1e-12), ("replay",),
     r"t\.jsonl: no \(model, config\) pair meets latency <= 1e-12 s"),
    # a candidate trained for free: a pick at no cost, an infinite (null) speedup
    ("training-costs-nothing", _train_for_free, ("load", "replay"),
     r"t\.jsonl \(candidate c000\): its curve records 0 seconds of training"),
    # candidates: one architecture twice failed every engine replay naming the spec's arch.pool; ids that print
    # as nothing or break the one-line messages were taken in
    ("architecture-twice", _repeat_model, ("load", "replay", "suite"),
     r"t\.jsonl:3: candidate c001 has the same architecture \(field 'model'\) as candidate c000"),
    ("id-empty", _candidate(0, id=""), ("load",), r"t\.jsonl:2: field 'id' is ''"),
    ("id-newline", _candidate(0, id="a\nb"), ("load", "replay"), r"field 'id' is 'a\\nb'; a candidate id is"),
    ("id-escape-sequence", _candidate(0, id="a\x1b[31m"), ("load",), r"field 'id' is 'a\\x1b\[31m'"),
    # records the header contradicts, or that contradict themselves
    ("trace-longer-than-max-trials", _extra_trial, ("load", "replay"),
     r"t\.jsonl:2 \(candidate c000\): field 'tuning' has 5 trials, more than the header's max_trials \(4\)"),
    ("checkpoint-true", _header(checkpoints=[True, 16, 32]), ("load", "replay"),  # True == 1 passed as step 1
     r"t\.jsonl:1: field 'checkpoints' must be increasing positive integers, got \[True, 16, 32\]"),
    ("tokens-decreasing", _curve(0, 2, tokens=1), ("load",),
     r"\(candidate c000\): field 'curve' tokens must be cumulative"),
    ("tokens-negative", _curve(0, 0, tokens=-5), ("load",), r"field 'curve' tokens must be cumulative"),
    ("extra-not-an-object", _candidate(0, extra="busy"), ("load",), r"field 'extra' should be dict, got 'busy'"),
    # the knob space's compile modes, read by the engine's replays: an AttributeError, or a spec error naming
    # system.compiles
    ("knob-space-space-a-list", _knob_space(["eager"]), ("load", "replay"),
     r"t\.jsonl:1 knob_space: field 'space' should be an object"),
    ("knob-space-compile-unknown", _knob_space({"compiles": ["warp"]}), ("load", "suite"),
     r"t\.jsonl:1 knob_space: field 'space\.compiles' should be a list of distinct compile modes"),
    ("knob-space-compile-twice", _knob_space({"compiles": ["eager", "eager"]}), ("load",),
     r"field 'space\.compiles'.*got \['eager', 'eager'\]"),
    # checkpoints the engine's rungs miss: refused after the other methods had run, naming no file
    ("checkpoints-off-the-engine-ladder", _checkpoints([5, 100]), ("replay", "suite", "ablate"),
     r"t\.jsonl: eta=4: rungs end at steps \[20, 80\], where the table records no loss"),
    # already refused before this sweep, kept so
    ("loss-nan-token", _curve(0, 2, val_loss=math.nan), ("load", "replay"),
     r"curve\[2\]: field 'val_loss' should be a finite number or null, got nan"),
    ("seconds-negative", _curve(0, 0, seconds=-1.0), ("load",), r"field 'curve' seconds must be cumulative"),
    ("seconds-a-string", _curve(0, 0, seconds="3.5"), ("load",), r"field 'seconds' should be float, got '3\.5'"),
    ("latency-true", _trial(0, 0, latency_s=True), ("load",), r"field 'latency_s' should be float, got True"),
    ("steps-off-the-checkpoints", _curve(0, 1, step=8), ("load",), r"field 'curve' has steps \[8, 8, 32\]"),
    ("candidate-id-twice", _candidate(1, id="c000"), ("load", "replay"), r"t\.jsonl:3: candidate id 'c000' appears"),
    ("version-future", _header(version=99), ("load", "replay"), r"t\.jsonl:1: field 'version' is 99"),
    ("version-a-string", _header(version="1"), ("load",), r"field 'version' should be int, got '1'"),
    ("version-missing", lambda h, cs: h.pop("version"), ("load",), r"t\.jsonl:1: missing field 'version'"),
    ("quantile-above-one", _objective(latency_limit_quantile=1.5), ("load",),
     r"field 'latency_limit_quantile' is 1\.5, it must be in \[0, 1\]"),
]

COMMANDS = {
    "replay": ["bench", "replay", "t.jsonl", "--seeds", "1", "--methods", "random,sonar"],
    "pareto": ["bench", "replay", "t.jsonl", "--seeds", "1", "--mode", "pareto", "--methods", "random,sonar"],
    "oracle": ["bench", "oracle", "t.jsonl"],
    "suite": ["bench", "suite", "t.jsonl", "--seeds", "1", "--jobs", "1", "--methods", "random,sonar",
              "--quantiles", "0.5", "--out", "s.json"],
    "ablate": ["bench", "ablate", "ok.jsonl", "t.jsonl", "--seeds", "1", "--jobs", "1", "--quantiles", "0.5",
               "--rules", "completed", "--switch", "eliminate", "--out", "a.json"],
}


def _refused_by_the_cli(argv: list[str], expect: str) -> None:
    result = CliRunner().invoke(app, argv)
    raised = result.exception if not isinstance(result.exception, SystemExit) else None
    assert raised is None, f"traceback: {raised!r}"
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output[-400:]}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(expect, lines[0]), lines[0]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in CASES])
def test_a_bad_table_is_refused_naming_the_file_and_field(case, records, tmp_path, monkeypatch):
    _, edit, commands, expect = case
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "ok.jsonl", records)
    path = _write(tmp_path / "t.jsonl", records, edit)
    for command in commands:
        if command == "load":
            with pytest.raises(UserError) as info:
                load_table(path)
            assert "\n" not in str(info.value) and re.search(expect, str(info.value)), str(info.value)
        else:
            _refused_by_the_cli(COMMANDS[command], expect)


def test_a_refused_suite_runs_no_cell(records, tmp_path, monkeypatch):
    # every table is checked before the first cell: the valid table's cells do not run first
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "a.jsonl", records)
    _write(tmp_path / "b.jsonl", records, _objective(latency_limit_s=7200.0))
    _refused_by_the_cli(["bench", "suite", "a.jsonl", "b.jsonl", "--seeds", "1", "--jobs", "1", "--methods",
                         "random", "--quantiles", "0.5", "--out", "s.json"], r"b\.jsonl:1 objective")
    assert not (tmp_path / "s.work.jsonl").exists() or not (tmp_path / "s.work.jsonl").read_text().strip()


# -- legitimate edge cases -----------------------------------------------------------------------------------------

def _replays(path: Path, *extra: str) -> dict:
    result = CliRunner().invoke(app, ["bench", "replay", str(path), "--seeds", "1", "--json", "--methods",
                                      "brute_force,random,sonar", *extra])
    assert result.exit_code == 0, result.output[-600:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("edit", [
    pytest.param(lambda h, cs: _keep_the_first(cs), id="one-candidate"),
    pytest.param(_candidate(0, tuning=[]), id="one-candidate-without-tuning"),
    pytest.param(_header(future_field={"a": 1}), id="unknown-header-key"),
    pytest.param(_candidate(2, future_field=[1]), id="unknown-candidate-key"),
    pytest.param(_curve(0, 0, long_loss=3.0), id="unknown-curve-point-key"),
    pytest.param(_objective(mode=None, quality_delta_max=None, latency_limit_quantile=None), id="objective-nulls"),
    pytest.param(_objective(latency_limit_quantile=0), id="quantile-zero"),
    pytest.param(_objective(latency_limit_quantile=1), id="quantile-one"),
    pytest.param(_trial(0, 3, quality_delta=-0.01), id="quality-better-than-the-reference"),
    pytest.param(_trial(0, 3, failure="timeout", latency_s=None, best_latency_s=None), id="one-failed-trial"),
    pytest.param(_checkpoints([10, 20, 30]), id="checkpoints-not-doubling"),
    pytest.param(_points("tuning", lambda t: t.update(seconds=0.0)), id="tuning-costs-nothing"),
])
def test_legitimate_edge_cases_load_and_replay(edit, records, tmp_path):
    path = _write(tmp_path / "t.jsonl", records, edit)
    load_table(path)
    summary = _replays(path)
    for row in summary["methods"].values():
        assert all(v is not None for k, v in row.items() if k.startswith("speedup")), row


def test_a_table_saved_with_a_byte_order_mark_loads(records, tmp_path):
    # before: `not valid JSON (Unexpected UTF-8 BOM)`
    path = _write(tmp_path / "t.jsonl", records, prefix="\ufeff")
    assert load_table(path) == load_table(_write(tmp_path / "plain.jsonl", records))


def test_a_diverged_candidate_is_never_the_answer(records, tmp_path):
    # c000 ends diverged (val loss null) but meets the bound (1 s: every trial does). Before, its infinite loss made
    # the feasible loss range infinite, so every pick's gap read 0: the gap <= 10% criterion met by any feasible pick.
    path = _write(tmp_path / "t.jsonl", records, _curve(0, 2, val_loss=None, train_loss=None))
    table = load_table(path)
    scorer = Scorer(table, objective_from_table(table, latency_limit_s=1.0))
    assert math.isfinite(scorer.loss_range) and scorer.loss_range > 0
    worst = max((c for c in table.candidates[1:] if any(scorer.objective.feasible(t) for t in c.tuning)),
                key=lambda c: c.final_val_loss)
    trial = next(i for i, t in enumerate(worst.tuning) if scorer.objective.feasible(t))
    assert scorer.score(Pick(candidate_id=worst.id, trial=trial)).gap == pytest.approx(1.0)
    diverged = next(i for i, t in enumerate(table.candidates[0].tuning) if scorer.objective.feasible(t))
    score = scorer.score(Pick(candidate_id="c000", trial=diverged))
    assert score.rank is None and score.regret == math.inf  # before: ranked among the top 3
    summary = _replays(path)
    assert summary["methods"]["brute_force"]["final_regret_median"] == 0.0


def test_a_bound_is_set_from_the_candidates_that_can_be_picked(records, tmp_path):
    # Only c000 keeps a finite final loss. Before, the quantile bound was read off every candidate's best latency,
    # diverged ones too: at 0.25 it was one only a diverged candidate met, and `bench oracle` failed.
    path = _write(tmp_path / "t.jsonl", records, _diverge_after_first)
    table = load_table(path)
    for quantile in (0.0, 0.25, 0.5, 1.0):
        objective = objective_from_table(table, latency_limit_quantile=quantile)
        assert objective.latency_limit_s == table.candidates[0].tuning[-1].best_latency_s
    result = CliRunner().invoke(app, ["bench", "oracle", str(path)])
    assert result.exit_code == 0, result.output


def test_a_table_being_built_may_lack_what_a_replay_needs(records, tmp_path):
    # `bench build --resume` reads its own partial table: a first candidate that diverged is no reason to stop
    path = _write(tmp_path / "t.jsonl", records, lambda h, cs: (_keep_the_first(cs), [
        p.update(val_loss=None) for p in cs[0]["curve"]]))
    assert len(load_table(path, replay=False).candidates) == 1
    with pytest.raises(UserError, match="every candidate's final val_loss is null"):
        load_table(path)
