"""The criteria computed per seed from a regret trace: normalised gap, top 3, exact best, anytime area."""

import math

import pytest
from tiny_tables import table

from sonar.bench.regret import Objective, Pick, Scorer, anytime_area
from sonar.bench.replay import TracePoint
from sonar.bench.runner import seed_criteria, summarize_seeds

OBJECTIVE = Objective(mode="constraint", latency_limit_s=1.0, quality_delta_max=0.05)
# feasible final losses 2.0 (b), 2.1 (c), 2.2 (d), 3.0 (e); a is never feasible
ROWS = [("a", 1.5, [3.0]), ("b", 2.0, [0.9]), ("c", 2.1, [0.5]), ("d", 2.2, [0.5]), ("e", 3.0, [0.5])]


def test_gap_is_the_share_of_the_feasible_loss_range_and_rank_counts_better_feasible_candidates():
    scorer = Scorer(table(ROWS), OBJECTIVE)
    score = scorer.score(Pick(candidate_id="d", trial=0))
    assert score.regret == pytest.approx(0.2 / 2.0)
    assert score.gap == pytest.approx(0.2 / 1.0) and score.rank == 2
    assert scorer.score(Pick(candidate_id="b", trial=0)).rank == 0
    assert math.isinf(scorer.score(None).gap) and scorer.score(None).rank is None


def test_anytime_area_is_the_mean_capped_gap_over_log_cost():
    brute = 1000.0
    assert anytime_area([], brute) == 1.0
    assert anytime_area([(0.0, 0.0)], brute) == 0.0
    # gap 0 from brute/10 on: the last of three decades
    assert anytime_area([(100.0, 0.0)], brute) == pytest.approx(2 / 3)
    # gap 0.5 from brute/100, then 0 from brute/10; infinite gaps count as 1
    assert anytime_area([(0.5, math.inf), (10.0, 0.5), (100.0, 0.0)], brute) == pytest.approx((1 + 0.5) / 3)
    assert anytime_area([(10.0, 5.0)], brute) == 1.0


def test_seed_criteria_reach_each_threshold_at_its_own_cost():
    points = [TracePoint(seconds=10.0, regret=0.5, infeasible=False, gap=0.5, rank=3),
              TracePoint(seconds=20.0, regret=0.05, infeasible=False, gap=0.08, rank=2),
              TracePoint(seconds=40.0, regret=0.005, infeasible=False, gap=0.01, rank=1),
              TracePoint(seconds=50.0, regret=0.0, infeasible=False, gap=0.0, rank=0)]
    row = seed_criteria(points, brute_s=100.0)
    assert row["speedup_gap10"] == pytest.approx(100 / 20) and row["speedup_top3"] == pytest.approx(100 / 20)
    assert row["speedup_1pct"] == pytest.approx(100 / 40) and row["speedup_best"] == pytest.approx(100 / 50)
    never = seed_criteria(points[:1], brute_s=100.0)
    assert never["speedup_1pct"] == never["speedup_top3"] == 0.0
    summary = summarize_seeds([row, never])
    assert summary["failures_at_1pct"] == summary["failures"] == 1 and summary["failures_at_gap10"] == 1
    assert summary["speedup_at_gap10_median"] == pytest.approx(2.5)
    assert summary["anytime_area_p25"] <= summary["anytime_area_median"] <= summary["anytime_area_p75"]
