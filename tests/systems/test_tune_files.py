"""The tuner's files: its state and the shared prior are strict JSON, and an unreadable one is one
UserError naming it."""

import json
import math

import pytest

from sonar.errors import UserError
from sonar.interfaces import Candidate
from sonar.model import preset
from sonar.systems.config import SystemConfig
from sonar.systems.prior import PriorStore, fit, record, write_json_atomic
from sonar.systems.space import SearchSpace
from sonar.systems.trial import MeasureSettings
from sonar.systems.tuner import SystemTuner

FAST = MeasureSettings(warmup=0, min_repeats=2, max_repeats=3, timeout_s=60)
# The space holds a dispatch registered for the tests only (conftest.py), which a SearchSpace refuses unregistered.
pytestmark = pytest.mark.usefixtures("failing_dispatches")


def _strict_loads(text: str):
    def refuse(constant):
        raise ValueError(f"non-strict JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def _tuner(tmp_path):
    space = SearchSpace(schemes=("fp32",), dispatches=("grouped", "broken"), attentions=("chunk_blocked",))
    return SystemTuner(workload="decode:ctx=40", space=space, settings=FAST, prior_path=tmp_path / "prior.json")


def _candidate(tmp_path):
    return Candidate(id="c", model=preset("debug"), workdir=tmp_path / "c")


def test_a_failed_trial_is_written_as_null_and_read_back(tmp_path):
    candidate = _candidate(tmp_path)
    curve = _tuner(tmp_path).run(candidate, 2)
    assert curve[1].failure and curve[1].latency_s == math.inf
    path = _tuner(tmp_path).state_path(candidate)
    state = _strict_loads(path.read_text())
    assert state["points"][1]["latency_s"] is None and state["points"][1]["quality_delta"] is None
    _strict_loads((tmp_path / "prior.json").read_text())
    reloaded = _tuner(tmp_path).run(candidate, 2)  # measures nothing: the curve read back
    assert [(p.config, p.latency_s, p.best_latency_s, p.failure) for p in reloaded] == \
        [(p.config, p.latency_s, p.best_latency_s, p.failure) for p in curve]
    assert math.isnan(reloaded[1].quality_delta) and reloaded[0].quality_delta == curve[0].quality_delta


@pytest.mark.parametrize("content, rule", [
    ("{", "not JSON"),
    ("[" * 100_000, "nested too deeply"),
    ("[1, 2]", "a JSON object is expected"),
    ('{"version": 1, "workload": "decode:ctx=40,b=1", "points": "x"}', "'prior_snapshot' must be a list"),
    ('{"version": 1, "workload": "decode:ctx=40,b=1", "prior_snapshot": [], "run_records": [], "points": [{}],'
     ' "samples": [[]], "seconds": 0}', "point 0 must be an object with trial"),
    ('{"version": 1, "workload": "prefill:b=1,t=8"}', "another workload or version"),
])
def test_an_unreadable_tuning_state_is_one_error_naming_it(tmp_path, content, rule):
    tuner, candidate = _tuner(tmp_path), _candidate(tmp_path)
    path = tuner.state_path(candidate)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(UserError, match=rule) as err:
        tuner.run(candidate, 1)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content, rule", [
    ("{\"records\": [", "not JSON"),
    ("[" * 100_000, "nested too deeply"),
    ("[]", "'records' list is expected"),
    ('{"records": 5}', "'records' list is expected"),
    ('{"records": [7]}', "record 0: not an object"),
    ('{"records": [{"workload_kind": "decode", "config": {}, "log_ratio": 0}]}', "'config' must be a system config"),
    (json.dumps({"records": [{"workload_kind": "decode", "config": SystemConfig().to_dict(), "log_ratio": "x"}]}),
     "'log_ratio' must be a finite number"),
])
def test_an_unreadable_prior_is_one_error_naming_it(tmp_path, content, rule):
    path = tmp_path / "systems-prior.json"
    path.write_text(content)
    with pytest.raises(UserError, match=rule) as err:
        PriorStore(path).load()
    assert str(path) in str(err.value) and "move it away" in str(err.value)
    assert path.read_text() == content  # never overwritten


def test_records_against_another_reference_fit_the_difference():
    reference = SystemConfig(attention="sdpa").to_dict()
    faster = SystemConfig(attention="sdpa", moe_dispatch="gather").to_dict()
    records = [record(reference, "decode", 1.0, 1.0, False, "a", reference=reference),
               record(faster, "decode", 0.5, 1.0, False, "a", reference=reference)]
    assert "reference" in records[0] and "reference" not in record(faster, "decode", 1, 1, False, "a")
    effects = fit(records, "decode")
    assert effects["moe_dispatch=gather"] < -0.2 and effects["attention=sdpa"] == pytest.approx(0.0)


def test_json_outputs_are_strict(tmp_path):
    path = tmp_path / "out.json"
    write_json_atomic(path, {"latency_s": math.inf, "samples": [1.0, math.nan], "speedup": -math.inf})
    assert _strict_loads(path.read_text()) == {"latency_s": None, "samples": [1.0, None], "speedup": None}


@pytest.mark.parametrize("limit", [-1.0, math.inf, math.nan])
def test_the_quality_limit_is_checked(limit):
    with pytest.raises(UserError, match=f"quality_limit={limit!r}: must be a finite number >= 0"):
        SystemTuner(quality_limit=limit)
