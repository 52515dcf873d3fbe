import math

import pytest
from tiny_tables import table

from sonar.bench.methods import BruteForce, RandomSearch
from sonar.bench.recommend import Observed
from sonar.bench.regret import Objective
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


def test_brute_force_ends_at_zero_regret_at_exactly_full_cost_and_is_scored_as_it_goes():
    t = table(ROWS)
    trace = run_method(t, OBJECTIVE, BruteForce(), seed=0)
    assert trace[-1].regret == 0.0 and trace[-1].seconds == t.brute_force_seconds
    # in table order: a (36 s, never feasible), then b, the best, feasible once its 2 trials are measured
    summary = summarize(t, replay_all(t, OBJECTIVE, [BruteForce()], range(3)))["brute_force"]
    assert summary["speedup_at_1pct_median"] == pytest.approx(t.brute_force_seconds / 72.0)
    assert summary["failures"] == 0 and summary["failures_at_best"] == 0


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


def test_an_observation_on_another_clock_moves_the_session_forward_only():
    t = table(ROWS)
    session = ReplaySession(t, OBJECTIVE)
    curve = list(t.candidate("c").curve)
    session.observe_at(10.0, {"c": Observed(curve=curve, trials={0: t.candidate("c").tuning[0]})})
    assert [(p.seconds, p.regret) for p in session.trace] == [(10.0, pytest.approx((2.5 - 2.2) / 2.2))]
    session.observe_at(4.0, {})  # the view is replaced, not merged; the clock never goes back
    assert session.clock == 10.0
    assert [(p.seconds, p.regret) for p in session.trace] == [(10.0, math.inf)]


def test_a_new_run_of_a_candidate_pays_again_and_a_resumed_run_pays_only_its_new_steps():
    session = ReplaySession(table(ROWS), OBJECTIVE)
    session.train("a", 16, run="t0")
    session.train("a", 8, run="t1")
    assert session.clock == 24.0
    session.train("a", 32, run="t0")
    assert session.clock == 40.0  # t0 resumed from its step 16
