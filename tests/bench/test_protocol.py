"""One recommendation rule for every method: no method can choose what is scored, and each rule's
choice on hand-made observations."""

import math

import pytest
from tiny_tables import CHECKPOINTS, table, tuning

from sonar.bench.recommend import RULES, Observed, recommend
from sonar.bench.regret import Objective, Pick
from sonar.bench.replay import ReplaySession
from sonar.bench.runner import run_method
from sonar.errors import UserError
from sonar.interfaces import CurvePoint

CONSTRAINT = Objective(mode="constraint", latency_limit_s=1.0, quality_delta_max=0.05)
PARETO = Objective(mode="pareto", quality_delta_max=0.05)
LAST = CHECKPOINTS[-1]


def seen(losses: list[float], latencies: list[float]) -> Observed:
    """Observed at the first len(losses) checkpoints, with these measured configs (trace indices 0..)."""
    curve = [CurvePoint(step=s, tokens=s, train_loss=v, val_loss=v, seconds=float(s))
             for s, v in zip(CHECKPOINTS, losses, strict=False)]
    return Observed(curve=curve, trials=dict(enumerate(tuning(latencies))))


def test_a_session_offers_methods_no_way_to_set_the_recommendation():
    public = {name for name in dir(ReplaySession) if not name.startswith("_")}
    assert public == {"train", "tune", "measure", "restart", "observe_at", "current_recommendation", "finish", "trace"}
    assert not any("recommend" in name and name != "current_recommendation" for name in public)


class _Scripted:
    """Trains and tunes in a fixed order; two instances differ only in name."""

    modes = ("constraint",)

    def __init__(self, name):
        self.name = name

    def run(self, session, seed):
        for cid in ("c", "b", "a"):
            session.train(cid, 16)
            session.tune(cid, 2)
            session.train(cid, 32)


@pytest.mark.parametrize("rule", RULES)
def test_two_methods_with_the_same_observations_get_the_same_regret_trace(rule):
    t = table([("a", 2.0, [3.0, 0.9]), ("b", 2.2, [1.5, 0.8]), ("c", 2.5, [0.5, 0.4])])
    first = run_method(t, CONSTRAINT, _Scripted("one"), seed=0, rule=rule)
    second = run_method(t, CONSTRAINT, _Scripted("two"), seed=5, rule=rule)
    assert first == second and first[-1].regret == 0.0


def test_an_engine_style_observation_and_a_job_by_job_method_are_scored_alike():
    t = table([("a", 2.0, [3.0, 0.9]), ("b", 2.2, [1.5, 0.8])])
    by_jobs = ReplaySession(t, CONSTRAINT)
    by_jobs.train("b", 32)
    by_jobs.tune("b", 2)
    reported = ReplaySession(t, CONSTRAINT)
    reported.observe_at(by_jobs.clock, {"b": Observed(curve=list(t.candidate("b").curve),
                                                       trials=dict(enumerate(t.candidate("b").tuning)))})
    assert reported.current_recommendation() == by_jobs.current_recommendation() == Pick(candidate_id="b", trial=1)
    assert reported.trace[-1] == by_jobs.trace[-1]


def test_completed_rule_ignores_running_candidates_and_picks_the_fastest_feasible_config():
    observed = {"done": seen([3.0, 2.6, 2.4], [0.9, 0.5, 2.0]), "running": seen([2.0, 1.5], [0.3])}
    assert recommend(observed, CONSTRAINT, rule="completed", last_step=LAST) == Pick(candidate_id="done", trial=1)
    assert recommend({"running": observed["running"]}, CONSTRAINT, rule="completed", last_step=LAST) is None


def test_completed_rule_needs_a_feasible_config_among_the_completed():
    observed = {"slow": seen([3.0, 2.6, 2.0], [1.5]), "ok": seen([3.0, 2.6, 2.3], [0.7])}
    assert recommend(observed, CONSTRAINT, rule="completed", last_step=LAST) == Pick(candidate_id="ok", trial=0)


def test_checkpoint_rule_before_any_completion_takes_the_lowest_latest_loss_among_feasible():
    observed = {"x": seen([3.0, 2.5], [0.9]), "y": seen([2.8], [0.5]), "z": seen([2.0], [1.5])}  # z infeasible
    assert recommend(observed, CONSTRAINT, rule="checkpoint", last_step=LAST) == Pick(candidate_id="x", trial=0)


def test_checkpoint_rule_after_a_completion_lets_running_candidates_beat_the_leader_at_a_shared_checkpoint():
    # L = 32, L/4 = 8: both running candidates beat done where they stand; they share step 8, where shallow is lowest
    observed = {"done": seen([3.0, 2.6, 2.4], [0.9]), "deep": seen([2.9, 2.5], [0.8]), "shallow": seen([1.0], [0.5])}
    assert recommend(observed, CONSTRAINT, rule="checkpoint", last_step=LAST) == Pick(candidate_id="shallow", trial=0)
    del observed["shallow"]  # now shared at 16: deep 2.5 < done 2.6
    assert recommend(observed, CONSTRAINT, rule="checkpoint", last_step=LAST) == Pick(candidate_id="deep", trial=0)


def test_checkpoint_rule_keeps_the_finished_leader_when_a_newcomer_does_not_beat_it():
    # runner-up is ahead of best at step 8 only; a newcomer at step 8, behind best there, must not pull the
    # comparison down to step 8 and hand the pick to runner-up (the flip the rule once made)
    observed = {"best": seen([3.0, 2.7, 2.0], [0.9]), "runner_up": seen([2.5, 2.6, 2.2], [0.8]),
                "newcomer": seen([3.2], [0.5])}
    assert recommend(observed, CONSTRAINT, rule="checkpoint", last_step=LAST) == Pick(candidate_id="best", trial=0)
    observed["newcomer"] = seen([2.9], [0.5])  # ahead of best at the step they share: it challenges
    assert recommend(observed, CONSTRAINT, rule="checkpoint", last_step=LAST) == Pick(candidate_id="newcomer", trial=0)
    observed["newcomer"] = seen([2.9, 2.8], [0.5])  # trained on, now behind best at 16: the pick returns
    assert recommend(observed, CONSTRAINT, rule="checkpoint", last_step=LAST) == Pick(candidate_id="best", trial=0)


def test_checkpoint_rule_pool_leaves_out_candidates_below_a_quarter_of_the_last_checkpoint():
    steps = (8, 16, 32, 64)

    def at(losses, latencies):
        curve = [CurvePoint(step=s, tokens=s, train_loss=v, val_loss=v, seconds=float(s))
                 for s, v in zip(steps, losses, strict=False)]
        return Observed(curve=curve, trials=dict(enumerate(tuning(latencies))))
    observed = {"done": at([3.0, 2.8, 2.6, 2.4], [0.9]), "deep": at([3.1, 2.7], [0.8]), "early": at([1.0], [0.5])}
    # pool = done + deep (16 >= 64/4); early (8) is left out; compared at step 16: deep 2.7 < done 2.8
    assert recommend(observed, CONSTRAINT, rule="checkpoint", last_step=64) == Pick(candidate_id="deep", trial=0)
    assert recommend(observed, CONSTRAINT, rule="completed", last_step=64) == Pick(candidate_id="done", trial=0)


def test_pareto_rules_take_the_non_dominated_pairs():
    observed = {"done": seen([3.0, 2.6, 2.4], [0.9, 2.0]), "fast": seen([3.0, 2.6, 2.8], [0.2]),
                "running": seen([2.0], [5.0])}
    completed = recommend(observed, PARETO, rule="completed", last_step=LAST)
    assert set(completed) == {Pick(candidate_id="done", trial=0), Pick(candidate_id="fast", trial=0)}
    checkpoint = recommend(observed, PARETO, rule="checkpoint", last_step=LAST)
    assert set(checkpoint) == set(completed) | {Pick(candidate_id="running", trial=0)}


def test_an_unknown_rule_is_refused():
    with pytest.raises(UserError, match="recommendation rule 'mine'"):
        recommend({}, CONSTRAINT, rule="mine", last_step=LAST)
    with pytest.raises(UserError, match="recommendation rule"):
        ReplaySession(table([("a", 2.0, [0.5])]), CONSTRAINT, rule="mine")
    assert math.isinf(ReplaySession(table([("a", 2.0, [0.5])]), CONSTRAINT).finish()[-1].regret)


def test_one_run_scored_under_several_rules_equals_separate_runs():
    from sonar.bench.methods import RandomSearch
    from sonar.bench.regret import objective_from_table
    from sonar.bench.runner import run_method_rules
    from sonar.bench.synthetic import synthetic_table

    table = synthetic_table(candidates=12, max_steps=64, max_trials=8, seed=3)
    objective = objective_from_table(table)
    method = RandomSearch()
    both = run_method_rules(table, objective, method, 0, rules=("completed", "checkpoint"))
    for rule in ("completed", "checkpoint"):
        assert both[rule] == run_method(table, objective, method, 0, rule=rule)
