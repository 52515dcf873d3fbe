"""Long context as a measured bound of the search (search/long_context.py)."""

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml
from search_support import BASE_SPEC, make_spec, recorded_events, run_simulated

from sonar.interfaces import CurvePoint
from sonar.model.presets import preset
from sonar.search.curves import Forecast
from sonar.search.long_context import LongContext, breaks, measures_at, recommendable
from sonar.search.objective import Point, rank
from sonar.search.records import Job
from sonar.search.results import best, measured, summary
from sonar.search.runner import point_record
from sonar.search.space import sample_architectures
from sonar.search.spec import Objective, parse_spec
from sonar.search.spec_fields import SpecError
from sonar.search.synthetic import long_context_ratio

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "search-long-context.yaml"
BOUND = {"factor": 8, "max_ratio": 1.05}


def _objective(long_context) -> dict:
    return {"kind": "constraint", "latency_s": 0.004, "long_context": long_context}


def test_the_spec_reads_the_bound():
    spec = parse_spec(make_spec(objective=_objective({"factor": 4, "max_ratio": 1.1, "max_loss": 3, "rungs": 1})))
    assert spec.objective.long_context == LongContext(factor=4, max_ratio=1.1, max_loss=3.0, rungs=1)
    assert parse_spec(make_spec()).objective.long_context is None


@pytest.mark.parametrize(("bound", "key"), [
    ({"factor": 3, "max_ratio": 1.05}, "objective.long_context.factor"),
    ({"factor": 32, "max_ratio": 1.05}, "objective.long_context.factor"),
    ({"factor": 1, "max_ratio": 1.05}, "objective.long_context.factor"),
    ({"factor": 8, "max_ratio": 0}, "objective.long_context.max_ratio"),
    ({"factor": 8, "max_ratio": -1.0}, "objective.long_context.max_ratio"),
    ({"factor": 8, "max_loss": "low"}, "objective.long_context.max_loss"),
    ({"factor": 8}, "objective.long_context"),
    ({"factor": 8, "max_ratio": 1.05, "depth": 2}, "objective.long_context.depth"),
    ({"factor": 8, "max_ratio": 1.05, "stop_early": "yes"}, "objective.long_context.stop_early"),
    ([8, 1.05], "objective.long_context"),
])
def test_spec_errors_name_the_key(bound, key):
    with pytest.raises(SpecError, match=rf"^{key.replace('.', '[.]')}:"):
        parse_spec(make_spec(objective=_objective(bound)))


def test_job_and_curve_fields_are_optional_and_old_records_fold():
    old = {"candidate": "c001", "kind": "train", "rung": 2, "until": 90, "start": 30, "target": None}
    assert Job(**old).to_dict() == old  # recorded as before when off
    asked = Job(**old, long_factor=8)
    assert asked.id == Job(**old).id and Job(**asked.to_dict()) == asked and asked.to_dict()["long_factor"] == 8
    with pytest.raises(ValueError, match="only a train job"):
        Job(candidate="c001", kind="tune", rung=0, until=3, long_factor=8)
    point = {"step": 10, "tokens": 100, "train_loss": 3.0, "val_loss": 2.9, "seconds": 1.0}
    assert point_record(CurvePoint(**point)) == point  # a point not measured is recorded as before
    assert point_record(CurvePoint(**point, long_loss=3.1, long_ratio=1.07))["long_ratio"] == 1.07


def _curve(ratio: float | None) -> list[CurvePoint]:
    extra = {} if ratio is None else {"long_loss": 2.0 * ratio, "long_ratio": ratio}
    return [CurvePoint(step=10, tokens=0, train_loss=2.1, val_loss=2.0, seconds=1.0, **extra)]


def test_the_feasibility_rule():
    bound = LongContext(factor=8, max_ratio=1.05)
    assert breaks(bound, _curve(1.2)).startswith("long context: 8x/1x loss 1.2 > 1.05")
    assert breaks(bound, _curve(1.04)) is None and breaks(None, _curve(1.2)) is None
    assert breaks(bound, _curve(None)) is None  # not measured yet: nothing broken
    assert not recommendable(bound, _curve(None)) and not recommendable(bound, _curve(1.2))
    assert recommendable(bound, _curve(1.0)) and recommendable(None, _curve(None))
    assert breaks(LongContext(factor=8, max_loss=2.1), _curve(1.1)).startswith("long context: 8x loss 2.2 > 2.1")
    assert [measures_at(bound, rung, 4) for rung in range(4)] == [False, False, True, True]
    assert not measures_at(None, 3, 4)


def test_ranking_puts_a_broken_bound_behind():
    def point(id_, loss, broken):
        return Point(id=id_, loss=Forecast(loss, loss, loss), latency=Forecast(0.001, 0.001, 0.001),
                     long_breaks=broken)
    points = [point("a", 1.0, True), point("b", 2.0, False), point("c", 3.0, False)]
    for objective in (Objective(latency_s=0.01), Objective(kind="pareto"),
                      Objective(kind="scalarized", latency_weight=1.0)):
        assert rank(objective, points)[-1] == "a"
    assert rank(Objective(latency_s=0.01), points, loss_only=True) == ["b", "c", "a"]


def test_the_synthetic_model_follows_the_architecture():
    irope = preset("debug").replace(num_hidden_layers=4, no_rope_layer_interval=4, attention_chunk_size=32)
    all_rope = irope.replace(no_rope_layer_interval=64, attention_chunk_size=None)
    no_temp = irope.replace(attn_temperature_tuning=False)
    assert long_context_ratio(all_rope, 2) < long_context_ratio(all_rope, 16)
    assert long_context_ratio(irope, 8) < long_context_ratio(no_temp, 8) < 1.05 < long_context_ratio(all_rope, 8)


def test_the_arch_space_searches_the_long_context_knobs():
    raw = make_spec(arch={"no_rope_layer_interval": [2, 4, 64], "attention_chunk_size": [None, 32],
                          "attn_temperature_tuning": [True, False]})
    models = sample_architectures(parse_spec(raw).arch, seed=0, count=18)
    assert {m.attention_chunk_size for m in models} == {None, 32}
    assert {m.attn_temperature_tuning for m in models} == {True, False}
    assert {m.no_rope_layer_interval for m in models} == {2, 4, 64}


def test_a_spec_without_the_bound_measures_and_records_nothing_new(tmp_path):
    run_simulated(copy.deepcopy(BASE_SPEC), tmp_path)
    assert "long" not in repr(recorded_events(tmp_path))


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory):
    raw = yaml.safe_load(EXAMPLE.read_text())
    # Candidates start in the sampler's order: with learned starts both runs meet the same bound-keeping
    # candidate first and never finish the lower-loss breaker that shows the bound at work.
    raw["rules"] = {"learned_starts": False}
    unbounded = copy.deepcopy(raw)
    del unbounded["objective"]["long_context"]
    return {name: run_simulated(spec, tmp_path_factory.mktemp(name))[0]
            for name, spec in (("bounded", raw), ("unbounded", unbounded))}


def test_only_the_last_two_rungs_measure_and_a_broken_bound_stops_early(example_runs):
    state = example_runs["bounded"]
    last = max(job.job.rung for job in state.jobs.values())
    train = [r.job for r in state.jobs.values() if r.job.kind == "train"]
    assert {j.long_factor for j in train if j.rung >= last - 1} == {8}
    assert {j.long_factor for j in train if j.rung < last - 1} == {None}
    stopped = [c for c in state.candidates.values() if c.reason.startswith("long context")]
    assert stopped and all(c.status == "stopped" and c.rung == last - 1 for c in stopped)


def test_the_example_winner_meets_the_bound_and_a_lower_loss_breaker_is_not_chosen(example_runs):
    bounded, unbounded = example_runs["bounded"], example_runs["unbounded"]
    winner = {r.id: r for r in measured(bounded)}[best(bounded)]
    assert winner.long_ratio is not None and winner.long_ratio <= BOUND["max_ratio"]
    assert summary(bounded)["best"]["long_ratio"] == winner.long_ratio
    # without the bound the search picks a lower-loss candidate that breaks it; with it, that one is stopped
    other = unbounded.candidates[best(unbounded)]
    assert other.val_loss() < winner.val_loss
    assert long_context_ratio(other.model, BOUND["factor"]) > BOUND["max_ratio"]
    assert bounded.candidates[other.id].reason.startswith("long context")
    assert "long_ratio" not in summary(unbounded)["best"]


def test_status_and_report_show_the_measured_ratio_only_with_a_bound(example_runs, tmp_path):
    from rich.console import Console

    from sonar.cli.search import _LiveView
    from sonar.search.report import _html

    def table_text(state):
        console = Console(width=200, record=True)
        console.print(_LiveView(console, state.spec)(state))
        return console.export_text()

    bounded, unbounded = example_runs["bounded"], example_runs["unbounded"]
    ratio = f"{summary(bounded)['best']['long_ratio']:.3f}"
    assert "loss 8x / 1x" in table_text(bounded) and ratio in table_text(bounded)
    assert "<th>loss 8x / 1x</th>" in _html(bounded) and f"<td>{ratio}</td>" in _html(bounded)
    assert "8x" not in table_text(unbounded) and "8x" not in _html(unbounded)


def test_a_recorded_bounded_run_folds_to_the_same_state(example_runs, tmp_path):
    from sonar.search.state import state_from_events
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["rules"] = {"learned_starts": False}  # as example_runs
    state, _ = run_simulated(raw, tmp_path)
    folded = state_from_events(recorded_events(tmp_path))
    assert best(folded) == best(state) == best(example_runs["bounded"])
    assert [dataclasses.asdict(p) for p in folded.candidates[best(state)].curve] == \
        [dataclasses.asdict(p) for p in state.candidates[best(state)].curve]


def test_without_early_stopping_breakers_run_on_but_still_never_win(tmp_path):
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["objective"]["long_context"]["stop_early"] = False
    state, _ = run_simulated(raw, tmp_path)
    assert not any(c.reason.startswith("long context") for c in state.candidates.values())
    assert any(r.long_ratio is not None and r.long_ratio > BOUND["max_ratio"] for r in measured(state))
    winner = {r.id: r for r in measured(state)}[best(state)]
    assert winner.long_ratio <= BOUND["max_ratio"]
