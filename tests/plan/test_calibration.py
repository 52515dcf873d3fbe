"""Engine profiles against the published facts: each within 25% or a recorded miss, and the record is exact."""

from pathlib import Path

import pytest

from sonar.plan.calibration import TOLERANCE, all_checks, calibrated_overhead_gb, markdown_table, recorded_misses
from sonar.plan.engine_profile import ENGINES, EXACT, engine_file

CHECKS = all_checks()
MISSES = recorded_misses()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "plan.md"


@pytest.mark.parametrize("check", CHECKS, ids=[c.fact.id for c in CHECKS])
def test_each_prediction_meets_its_fact_or_is_a_recorded_miss(check):
    if check.fact.id in MISSES:
        assert not check.met, f"{check.fact.id} is recorded as a miss but is now met: remove it from misses"
    else:
        assert check.met, f"{check.fact.id}: predicted {check.predicted}, published {check.published}"
        if check.error is not None:
            assert abs(check.error) <= TOLERANCE


def test_the_recorded_misses_are_exactly_the_facts_missed():
    assert set(MISSES) == {c.fact.id for c in CHECKS if not c.met}
    assert all(len(reason) > 40 for reason in MISSES.values())  # each says which assumption breaks


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != EXACT])
def test_each_calibrated_overhead_is_what_its_fact_solves_to(engine):
    file = engine_file(engine)
    facts = {f.id: f for f in file.published}
    for profile in file.versions.values():
        assert len(profile.calibrated_on) <= 2
        for fact_id in profile.calibrated_on:
            assert calibrated_overhead_gb(facts[fact_id]) == pytest.approx(profile.unmodelled_overhead_gb, abs=0.05)


def test_calibrated_profiles_are_tested_on_facts_they_were_not_fitted_on():
    for engine in ("vllm", "sglang"):
        tested = [c for c in CHECKS if c.fact.engine == engine and not c.calibrated_on]
        assert len(tested) >= 2


def test_every_fact_cites_its_source():
    for check in CHECKS:
        source = check.fact.source
        assert source["project"] and source["version"] and source["date"].startswith("2025")


def test_the_table_in_the_docs_is_the_one_the_command_prints():
    assert markdown_table(CHECKS) in DOCS.read_text()
