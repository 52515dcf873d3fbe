import math

import pytest
from tiny_tables import table

from sonar.bench.engine_method import ENGINE_SCHEDULERS, EngineMethod, engine_methods, replay_spec
from sonar.bench.regret import Objective
from sonar.bench.runner import replay_all, run_method, summarize
from sonar.bench.synthetic import synthetic_table
from sonar.errors import UserError

ROWS = [("a", 2.0, [3.0, 2.5]), ("b", 2.2, [1.5, 0.8]), ("c", 2.5, [0.5, 0.4])]
CONSTRAINT = Objective(mode="constraint", latency_limit_s=1.0, quality_delta_max=0.05)
PARETO = Objective(mode="pareto", quality_delta_max=0.05)


@pytest.fixture(scope="module")
def small():
    return synthetic_table(candidates=10, max_steps=64, max_trials=6, seed=1)


@pytest.mark.parametrize("objective", [CONSTRAINT, PARETO], ids=["constraint", "pareto"])
def test_every_engine_scheduler_replays_deterministically_per_seed(small, objective):
    for method in engine_methods():
        first = [run_method(small, objective, method, seed=s) for s in (0, 1)]
        assert first == [run_method(small, objective, method, seed=s) for s in (0, 1)], method.name
        assert all(trace[-1].seconds > 0 for trace in first)
    sonar = EngineMethod("sonar", "sonar")
    assert run_method(small, objective, sonar, seed=0) != run_method(small, objective, sonar, seed=2)


@pytest.mark.parametrize("objective", [CONSTRAINT, PARETO], ids=["constraint", "pareto"])
def test_brute_force_through_the_engine_has_zero_regret_at_exactly_full_cost(objective):
    t = table(ROWS)
    trace = run_method(t, objective, EngineMethod("brute", "brute"), seed=0)
    assert trace[-1].regret == 0.0
    assert trace[-1].seconds == pytest.approx(t.brute_force_seconds)


def test_sonar_through_the_engine_ends_on_a_feasible_pick_within_brute_force_cost():
    t = table(ROWS)
    trace = run_method(t, CONSTRAINT, EngineMethod("sonar", "sonar"), seed=0)
    assert not trace[-1].infeasible and math.isfinite(trace[-1].regret)
    assert min(abs(trace[-1].regret - r) for r in (0.0, (2.5 - 2.2) / 2.2)) < 1e-12  # b or c; a is never feasible
    assert trace[-1].seconds <= t.brute_force_seconds  # the replay's budget: spent in rank order, never exceeded
    # without spend_budget, what ASHA ranks out stays out and the search ends early
    early = run_method(t, CONSTRAINT, EngineMethod("sonar", "sonar", rules={"spend_budget": False}), seed=0)
    assert early[-1].seconds < t.brute_force_seconds and not early[-1].infeasible


def test_summary_has_the_reported_fields_per_engine_scheduler(small):
    runs = replay_all(small, CONSTRAINT, engine_methods(), range(3))
    summary = summarize(small, runs)
    assert set(summary) == set(ENGINE_SCHEDULERS)
    for row in summary.values():
        assert {"speedup_at_1pct_median", "speedup_at_1pct_p25", "speedup_at_1pct_p75", "failures"} <= set(row)
        assert row["speedup_at_1pct_p25"] <= row["speedup_at_1pct_median"] <= row["speedup_at_1pct_p75"]
    assert summary["brute_force_engine"]["failures"] == 0
    assert summary["brute_force_engine"]["final_regret_median"] == 0.0


def test_a_ladder_off_the_recorded_checkpoints_is_refused(small):
    with pytest.raises(UserError, match="eta=3: rungs end at steps"):
        replay_spec(small, CONSTRAINT, scheduler="sonar", seed=0, eta=3)
    assert math.isinf(replay_spec(small, CONSTRAINT, scheduler="sonar", seed=0)["budget"].get("cost_s", math.inf))


def test_cli_replay_json_reports_the_engine_schedulers(tmp_path, small):
    import json

    from typer.testing import CliRunner

    from sonar.bench.table import write_table
    from sonar.cli.app import app

    path = tmp_path / "small.jsonl"
    write_table(path, small.header, small.candidates)
    result = CliRunner().invoke(app, ["bench", "replay", str(path), "--seeds", "2", "--json", "--methods",
                                      "sonar,brute_force_engine"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])["methods"]
    assert set(summary) == {"sonar", "brute_force_engine"}
    assert summary["brute_force_engine"]["failures"] == 0
    assert all(isinstance(row["speedup_at_1pct_p75"], float) for row in summary.values())


def test_engine_tunes_through_the_longest_trace_so_a_late_fast_trial_is_seen():
    # a's only feasible config is its 4th trial (as a compiled trial ends a sweep); b and c stopped after 2
    t = table([("a", 2.0, [3.0, 2.5, 2.0, 0.9]), ("b", 2.2, [1.5, 0.8]), ("c", 2.5, [0.5, 0.4])])
    assert replay_spec(t, CONSTRAINT, scheduler="brute", seed=0)["budget"]["max_trials"] == 4
    trace = run_method(t, CONSTRAINT, EngineMethod("brute", "brute"), seed=0)
    assert trace[-1].regret == 0.0 and trace[-1].seconds == pytest.approx(t.brute_force_seconds)


def test_a_candidate_seen_to_diverge_is_not_recommended_under_the_checkpoint_rule():
    # The engine records a NaN training job as failed and drops its points; the method still paid for them and
    # saw the loss diverge, so the benchmark's rule must see that point, not compare the candidate at an earlier
    # step and keep picking it (regret inf for the whole run).
    import dataclasses

    from sonar.bench.regret import objective_from_table
    from sonar.bench.replay import ReplaySession

    rows = table([("c000", 3.0, [0.5]), ("c001", 2.0, [0.5]), ("c002", 2.5, [0.5])])
    bad = rows.candidates[1]
    curve = bad.curve[:-1] + (dataclasses.replace(bad.curve[-1], val_loss=math.inf),)
    rows = dataclasses.replace(rows, candidates=(rows.candidates[0], dataclasses.replace(bad, curve=curve),
                                                 rows.candidates[2]))
    session = ReplaySession(rows, objective_from_table(rows), rule="checkpoint")
    EngineMethod("sonar", "sonar").run(session, 0)
    assert math.isinf(session.observed["c001"].curve[-1].val_loss)
    assert session.current_recommendation() != "c001"
    assert session.trace[-1].regret == 0.0
