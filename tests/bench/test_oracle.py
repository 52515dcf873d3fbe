"""The oracle: the least cost at which any method could reach each criterion, a ceiling for every method."""

import itertools

import pytest
from tiny_tables import table

from sonar.bench.oracle import constraint_oracle, pair_cost, pareto_oracle
from sonar.bench.regret import Objective, Pick, Scorer, objective_from_table
from sonar.bench.runner import seed_criteria
from sonar.bench.synthetic import synthetic_table

OBJECTIVE = Objective(mode="constraint", latency_limit_s=1.0, quality_delta_max=0.05)
# Training to the end costs 32 s each (tiny_tables: 1 s a step); a trial costs 2 s.
# a: best loss, never feasible; b: best feasible, feasible only at its third trial; c, d: near; e: far.
ROWS = [("a", 1.5, [3.0]), ("b", 2.0, [1.5, 1.2, 0.9]), ("c", 2.015, [0.5]), ("d", 2.1, [0.5]), ("e", 3.0, [0.5])]


def test_each_criterion_takes_the_cheapest_pick_that_meets_it_at_that_configs_own_cost():
    t = table(ROWS)
    cells = constraint_oracle(t, OBJECTIVE)
    # exact best: only b, measured at its feasible (third) configuration alone: 32 s + 2 s, not its 6 s sweep
    assert cells["best"].picks == (Pick(candidate_id="b", trial=2),)
    assert cells["best"].cost_s == pytest.approx(34.0)
    # 1%: b or c (2.015 is within 1% of 2.0) at the same cost; the oracle needs one of them
    assert cells["1pct"].picks[0].candidate_id in {"b", "c"} and cells["1pct"].cost_s == pytest.approx(34.0)
    assert cells["best"].speedup(t.brute_force_seconds) == pytest.approx(t.brute_force_seconds / 34.0)


def test_configurations_over_the_latency_or_quality_bound_are_never_the_oracles_pick():
    # c's only fast config breaks the quality limit, so only b (dearer to train) can be picked
    t = table([("b", 2.0, [0.9]), ("c", 1.9, [0.5])], quality={"c": [0.2]})
    cells = constraint_oracle(t, OBJECTIVE)
    assert {p.candidate_id for cell in cells.values() for p in cell.picks} == {"b"}


@pytest.mark.parametrize("quantile", [0.25, 0.75])
def test_no_method_beats_the_oracle_under_the_completed_rule(quantile):
    from sonar.bench.runner import run_method
    from sonar.bench.suite import available_methods

    t = synthetic_table(candidates=12, max_steps=64, max_trials=6, seed=3)
    objective = objective_from_table(t, mode="constraint", latency_limit_quantile=quantile)
    oracle = {name: cell.speedup(t.brute_force_seconds) for name, cell in constraint_oracle(t, objective).items()}
    methods = available_methods()
    for name in ("sonar", "random_feasible", "brute_force", "hyperband_joint"):
        for seed in range(2):
            trace = run_method(t, objective, methods[name], seed, Scorer(t, objective), rule="completed")
            row = seed_criteria(trace, t.brute_force_seconds)
            for criterion, ceiling in oracle.items():
                assert row[f"speedup_{criterion}"] <= ceiling * (1 + 1e-9), (name, seed, criterion)


def test_the_pareto_oracle_is_the_cheapest_set_of_front_owners_that_meets_the_gap():
    t = synthetic_table(candidates=10, max_steps=32, max_trials=4, seed=5)
    objective = objective_from_table(t, mode="pareto")
    scorer = Scorer(t, objective)
    cells = pareto_oracle(t, objective)
    for name, threshold in (("1pct", 0.01), ("gap10", 0.10)):
        cell = cells[name]
        assert scorer.score(list(cell.picks)).gap <= threshold
        assert cell.cost_s == pytest.approx(sum(pair_cost(t, p) for p in cell.picks))
    assert cells["gap10"].cost_s <= cells["1pct"].cost_s
    # exhaustively: no cheaper subset of the same owners meets 1% (the search is exact below its limit)
    owners = cells["1pct"].picks
    for size in range(1, len(owners)):
        for subset in itertools.combinations(owners, size):
            assert scorer.score(list(subset)).gap > 0.01 or sum(pair_cost(t, p) for p in subset) >= cells["1pct"].cost_s


@pytest.mark.parametrize("quantile", [0.25, 0.5, 0.75])
def test_the_oracles_recipe_replayed_reaches_each_criterion_at_exactly_its_cost(quantile):
    """The ceiling is attainable: measure the pick's configuration, train it to the end, and the
    benchmark's own session (completed rule) records the criterion met at the oracle's cost."""
    from sonar.bench.replay import ReplaySession
    from sonar.bench.runner import CRITERIA

    t = synthetic_table(candidates=12, max_steps=64, max_trials=6, seed=3)
    objective = objective_from_table(t, mode="constraint", latency_limit_quantile=quantile)
    for name, cell in constraint_oracle(t, objective).items():
        (pick,) = cell.picks
        session = ReplaySession(t, objective, rule="completed")
        session.measure(pick.candidate_id, pick.trial)
        session.train(pick.candidate_id, t.header.max_steps)
        value, threshold = CRITERIA[name]
        last = session.finish()[-1]
        assert value(last) <= threshold, name
        assert last.seconds == pytest.approx(cell.cost_s), name


def test_the_cli_reads_a_directory_of_tables_as_suite_and_ablate_do(tmp_path):
    import json

    from typer.testing import CliRunner

    from sonar.bench.table import write_table
    from sonar.cli.app import app

    for seed in (11, 12):
        t = synthetic_table(candidates=8, max_steps=32, max_trials=4, seed=seed)
        write_table(tmp_path / f"syn-{seed}.jsonl", t.header, t.candidates)
    result = CliRunner().invoke(app, ["bench", "oracle", str(tmp_path), "--quantiles", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.output)) == [str(tmp_path / "syn-11.jsonl"), str(tmp_path / "syn-12.jsonl")]
