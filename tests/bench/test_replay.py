import math

import pytest
from tiny_tables import table

from sonar.bench.methods import BruteForce, RandomSearch
from sonar.bench.regret import Objective, Pick
from sonar.bench.replay import ReplaySession, TableTrainer, TableTuner
from sonar.bench.runner import replay_all, run_method, summarize
from sonar.bench.synthetic import synthetic_table
from sonar.errors import UserError
from sonar.interfaces import Candidate, Trainer, Tuner

ROWS = [("a", 2.0, [3.0, 2.5]), ("b", 2.2, [1.5, 0.8]), ("c", 2.5, [0.5, 0.4])]
OBJECTIVE = Objective(mode="constraint", latency_limit_s=1.0, quality_delta_max=0.05)


def test_table_trainer_and_tuner_implement_the_protocols(tmp_path):
    t = table(ROWS)
    trainer, tuner = TableTrainer(t), TableTuner(t)
    assert isinstance(trainer, Trainer) and isinstance(tuner, Tuner)
    candidate = Candidate(id="b", model=t.candidate("b").model, workdir=tmp_path)
    assert [p.step for p in trainer.run(candidate, 16)] == [8, 16]
    assert trainer.run(candidate, 32)[-1].seconds == 32.0  # cost = recorded cumulative seconds
    assert [p.latency_s for p in tuner.run(candidate, 1)] == [1.5]
    with pytest.raises(UserError, match="only at steps \\[8, 16, 32\\]"):
        trainer.run(candidate, 20)


def test_session_charges_only_what_was_not_paid_before():
    session = ReplaySession(table(ROWS), OBJECTIVE)
    session.train("a", 16)
    assert session.clock == 16.0
    session.train("a", 32)
    assert session.clock == 32.0  # resumed from step 16
    session.train("a", 16)
    assert session.clock == 32.0  # already trained
    session.restart("a")
    session.train("a", 8)
    assert session.clock == 40.0  # a fresh run pays again
    session.measure("b", 1)
    assert session.clock == 42.0  # one trial's own cost (2 s)
    session.tune("b", 2)
    assert session.clock == 44.0  # only trial 0 was unpaid
    session.measure("b", 1, again=True)
    assert session.clock == 46.0


def test_brute_force_has_zero_regret_at_exactly_full_cost():
    t = table(ROWS)
    trace = run_method(t, OBJECTIVE, BruteForce(), seed=0)
    assert trace[-1].regret == 0.0 and trace[-1].seconds == t.brute_force_seconds
    assert all(math.isinf(p.regret) for p in trace[:-1])  # it recommends only when done
    summary = summarize(t, replay_all(t, OBJECTIVE, [BruteForce()], range(3)))["brute_force"]
    assert summary["speedup_at_1pct_median"] == pytest.approx(1.0) and summary["failures"] == 0
    assert summary["speedup_at_best_median"] == pytest.approx(1.0) and summary["failures_at_best"] == 0


def test_replay_is_deterministic_per_seed():
    t = synthetic_table(candidates=12, max_steps=64, max_trials=6, seed=1)
    objective = Objective(mode="constraint", latency_limit_s=1.0, quality_delta_max=0.05)
    first = [run_method(t, objective, RandomSearch(), seed=s) for s in range(3)]
    again = [run_method(t, objective, RandomSearch(), seed=s) for s in range(3)]
    assert first == again
    assert first[0] != first[1]  # and the seed matters


class _StopsEverythingEarly:
    """Trains every candidate to the first checkpoint and measures its first config, then stops all."""

    name = "stops_early"
    modes = ("constraint", "pareto")

    def run(self, session, seed):
        for candidate_id in session.table.ids:
            session.train(candidate_id, 8)
            session.tune(candidate_id, 1)


def test_a_scheduler_that_stops_everything_early_is_scored_by_its_true_pick():
    t = table(ROWS)
    method = _StopsEverythingEarly()
    trace = run_method(t, OBJECTIVE, method, seed=0)
    # It saw a(3.0 s), b(1.5 s), c(0.5 s) first configs: only c is feasible, so c is picked, and
    # scored by c's final loss 2.5 against the best feasible 2.2 (b with its second config).
    assert trace[-1].seconds == 3 * 8 + 3 * 2
    assert trace[-1].regret == pytest.approx((2.5 - 2.2) / 2.2)
    summary = summarize(t, replay_all(t, OBJECTIVE, [method], range(2)))["stops_early"]
    assert summary["failures"] == 2 and summary["speedup_at_1pct_median"] == 0.0


class _MeasuresTheRunnerUpFirst:
    """Measures c fully, then b fully: b is the true best, so regret 0 is reached only at the end."""

    name = "runner_up_first"
    modes = ("constraint",)

    def run(self, session, seed):
        for candidate_id in ("c", "b"):
            session.train(candidate_id, 32)
            session.tune(candidate_id, 2)


def test_the_exact_figure_waits_for_the_true_best_where_1pct_accepts_a_near_one():
    t = table([("a", 2.0, [3.0, 3.0]), ("b", 2.2, [1.5, 0.8]), ("c", 2.21, [0.5, 0.5])])
    summary = summarize(t, replay_all(t, OBJECTIVE, [_MeasuresTheRunnerUpFirst()], [0]))["runner_up_first"]
    brute = t.brute_force_seconds
    near, best = 32 + 2 * 2, 2 * (32 + 2 * 2)  # c (0.45% worse) is measured first, then b
    assert summary["speedup_at_1pct_median"] == pytest.approx(brute / near)
    assert summary["speedup_at_best_median"] == pytest.approx(brute / best)
    assert summary["failures_at_best"] == 0


def test_stopping_before_any_feasible_measurement_is_a_failure():
    t = table([("a", 2.0, [3.0, 0.5]), ("b", 2.2, [1.5, 0.8])])
    trace = run_method(t, OBJECTIVE, _StopsEverythingEarly(), seed=0)
    assert math.isinf(trace[-1].regret)
    assert summarize(t, replay_all(t, OBJECTIVE, [_StopsEverythingEarly()], [0]))["stops_early"]["failures"] == 1


class _RecommendsInfeasible(_StopsEverythingEarly):
    name = "bad_pick"

    def run(self, session, seed):
        super().run(session, seed)
        session.recommend(Pick(candidate_id="a", trial=0))


def test_an_infeasible_recommendation_counts_as_infeasible():
    t = table(ROWS)
    trace = run_method(t, OBJECTIVE, _RecommendsInfeasible(), seed=0)
    assert trace[-1].infeasible and math.isinf(trace[-1].regret)
    summary = summarize(t, replay_all(t, OBJECTIVE, [_RecommendsInfeasible()], [0]))
    assert summary["bad_pick"]["infeasible_final_picks"] == 1 and summary["bad_pick"]["failures"] == 1


def test_a_recommendation_on_another_clock_moves_the_session_forward_only():
    session = ReplaySession(table(ROWS), OBJECTIVE)
    session.recommend_at(10.0, Pick(candidate_id="b", trial=1))
    session.recommend_at(4.0, Pick(candidate_id="c", trial=0))
    assert session.clock == 10.0
    assert [(p.seconds, round(p.regret, 6)) for p in session.trace] == [(10.0, round((2.5 - 2.2) / 2.2, 6))]
