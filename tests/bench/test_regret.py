import math

import pytest
from tiny_tables import table

from sonar.bench.regret import (
    Objective,
    Pick,
    Scorer,
    cost_to_regret,
    hypervolume_2d,
    non_dominated,
    objective_from_table,
)
from sonar.errors import UserError

# a: best loss but too slow; b: feasible only through its second config; c: feasible, worse loss.
ROWS = [("a", 2.0, [3.0, 2.5]), ("b", 2.2, [1.5, 0.8]), ("c", 2.5, [0.5, 0.4])]


def constraint(limit=1.0, quality=0.05):
    return Objective(mode="constraint", latency_limit_s=limit, quality_delta_max=quality)


def test_constraint_best_is_the_best_feasible_pair_not_the_best_loss():
    scorer = Scorer(table(ROWS), constraint())
    assert scorer.best_loss == 2.2
    assert scorer.score(Pick(candidate_id="b", trial=1)).regret == 0.0
    assert scorer.score(Pick(candidate_id="c", trial=0)).regret == pytest.approx((2.5 - 2.2) / 2.2)


def test_constraint_infeasible_pick_is_a_failure_even_with_lower_loss():
    scorer = Scorer(table(ROWS), constraint())
    for pick in (Pick(candidate_id="a", trial=0), Pick(candidate_id="b", trial=0)):
        score = scorer.score(pick)
        assert score.infeasible and math.isinf(score.regret)
    assert not scorer.score(None).infeasible and math.isinf(scorer.score(None).regret)


def test_constraint_quality_limit_makes_a_fast_config_infeasible():
    scorer = Scorer(table(ROWS, quality={"b": [0.0, 0.2]}), constraint())
    assert scorer.best_loss == 2.5  # b's only fast config breaks the quality limit
    assert scorer.score(Pick(candidate_id="b", trial=1)).infeasible


def test_no_feasible_pair_is_a_clear_error():
    with pytest.raises(UserError, match="no \\(model, config\\) pair"):
        Scorer(table(ROWS), constraint(limit=0.1))


def test_hypervolume_of_a_staircase():
    assert hypervolume_2d([(0.0, 1.0), (1.0, 0.0)], (2.0, 2.0)) == pytest.approx(2 * 1 + 1 * 1)
    assert hypervolume_2d([(0.5, 0.5), (0.6, 0.6)], (1.0, 1.0)) == pytest.approx(0.25)  # dominated adds nothing
    assert hypervolume_2d([(3.0, 0.0)], (2.0, 2.0)) == 0.0  # beyond the reference point


def test_non_dominated_keeps_the_front():
    assert non_dominated([(1, 3), (2, 2), (3, 1), (3, 3), (2, 2.5)]) == [0, 1, 2]


def test_pareto_regret_is_the_normalised_hypervolume_gap():
    rows = [("a", 2.0, [math.e ** 2]), ("b", 3.0, [math.e ** 1]), ("c", 4.0, [math.e ** 0]), ("d", 4.0, [math.e ** 2])]
    scorer = Scorer(table(rows), Objective(mode="pareto", quality_delta_max=0.05))
    # Truth (loss, log latency): front a(2,2) b(3,1) c(4,0); ideal (2,0), nadir (4,2): span 2 each.
    # Normalised: a(0,1) b(.5,.5) c(1,0); reference (1.1, 1.1).
    full = 1.1 * 0.1 + 0.6 * 0.5 + 0.1 * 0.5
    assert scorer.best_hypervolume == pytest.approx(full)
    assert scorer.score([Pick(candidate_id=c, trial=0) for c in "abc"]).regret == pytest.approx(0.0)
    only_b = 0.6 * 0.6
    assert scorer.score([Pick(candidate_id="b", trial=0)]).regret == pytest.approx((full - only_b) / full)
    dominated = 0.1 * 0.1  # d normalises to (1, 1)
    assert scorer.score([Pick(candidate_id="d", trial=0)]).regret == pytest.approx((full - dominated) / full)
    assert math.isinf(scorer.score([]).regret)


def test_cost_to_regret_must_reach_and_stay():
    assert cost_to_regret([(0, math.inf), (5, 0.005), (9, 0.0)], 0.01) == 5
    assert cost_to_regret([(0, math.inf), (5, 0.005), (7, 0.5), (9, 0.0)], 0.01) == 9
    assert math.isinf(cost_to_regret([(0, math.inf), (5, 0.005), (7, 0.5)], 0.01))


def test_objective_defaults_resolve_a_quantile_limit_from_the_table():
    t = table(ROWS)
    assert objective_from_table(t).latency_limit_s == 1.0  # the header gives a limit
    header = t.header.__class__(**{**t.header.__dict__, "objective": {"latency_limit_quantile": 0.5}})
    quantile = objective_from_table(t.__class__(header=header, candidates=t.candidates))
    assert quantile.latency_limit_s == 0.8  # the bests are 0.4, 0.8, 2.5


def test_objective_rejects_bad_values():
    with pytest.raises(UserError, match="mode"):
        Objective(mode="fastest")
    with pytest.raises(UserError, match="latency_limit_s"):
        Objective(mode="constraint")
    with pytest.raises(UserError, match="latency_limit_s=inf: .*finite"):
        Objective(mode="constraint", latency_limit_s=math.inf)


def test_non_dominated_sweep_agrees_with_pairwise_definition():
    import numpy as np

    def pairwise(points):
        return [i for i, (x, y) in enumerate(points)
                if not any(a <= x and b <= y and (a < x or b < y) for a, b in points)]

    rng = np.random.default_rng(0)
    for _ in range(300):
        points = [tuple(map(float, rng.integers(0, 5, 2))) for _ in range(int(rng.integers(1, 12)))]
        assert non_dominated(points) == pairwise(points)
