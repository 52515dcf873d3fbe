"""Every scheduler rule is live: switching it changes what SONAR does on a table where it matters.

Each rule has a replay scenario (a table, an objective) in which flipping it alone changes the
regret trace; a rule whose switch changed nothing could not be measured by `sonar bench ablate`.
"""

from pathlib import Path

import pytest

from sonar.bench.engine_method import EngineMethod, replay_search, replay_spec
from sonar.bench.regret import objective_from_table
from sonar.bench.runner import run_method
from sonar.bench.synthetic import Structure, synthetic_table
from sonar.bench.table import load_table
from sonar.errors import UserError
from sonar.search.schedulers.policy import PLAIN_RULES, RULE_NAMES, SONAR_RULES, Rules

FIXTURE = Path(__file__).parents[1] / "bench" / "data" / "cpu-v2-schema-v1.jsonl"


def _measured():
    return load_table(FIXTURE)


def _cpu_v2():
    return load_table(Path(__file__).parents[2] / "benchmarks" / "cpu-v2.jsonl")


def _synthetic(candidates, **structure):
    shape = Structure(**structure) if structure else None
    return lambda: synthetic_table(candidates=candidates, max_steps=128, max_trials=8, seed=0, structure=shape)


def _cheap_tuning_finalists():
    # finalists tune before their last training (cheap trials), and some whole sweeps miss the 0.25 bound
    shape = Structure(tuning_cost=0.3, compiled_gain=0.0, feasible_share=0.2, latency_spread=0.5)
    return synthetic_table(candidates=24, max_steps=128, max_trials=12, seed=0, structure=shape)


# rule -> (table, objective mode): a scenario in which the rule changes the trace
SCENARIOS = {
    "forecast": (_measured, "constraint"),
    "population_centre": (_measured, "constraint"),
    "late_gain_bound": (_cpu_v2, "constraint"),
    "eliminate": (_measured, "constraint"),
    "tune_before_train": (_measured, "constraint"),
    "front_promotion": (_measured, "pareto"),
    "front_extenders": (_synthetic(16), "pareto"),
    "feasible_stops_tuning": (_synthetic(16), "constraint", 0.5),
    "tuning_pays": (_synthetic(16), "constraint"),
    "catch_up_by_rung": (_synthetic(16), "constraint"),
    "endgame_challengers": (_synthetic(24), "constraint"),
    "latency_model": (_synthetic(24), "constraint"),
    "spend_budget": (_measured, "constraint"),
    "explore_waiting": (_synthetic(24), "constraint"),
    "explore_to_end": (_synthetic(24), "constraint"),
    "final_losses_first": (_synthetic(24, tuning_cost=10.0), "constraint"),
    "screen_feasibility": (_synthetic(24), "constraint"),
    "fastest_first": (_measured, "constraint"),
    "defer_far_probes": (_measured, "constraint"),
    "learned_starts": (_synthetic(24), "constraint"),
    "hopeful_feasibility": (_synthetic(24), "constraint"),
    "stop_swept_finalists": (_cheap_tuning_finalists, "constraint"),
    "pooled_forecast": (_synthetic(24), "constraint"),
    "sweep_finalists_first": (_synthetic(24, tuning_cost=10.0), "constraint"),
}


def test_every_rule_has_a_scenario():
    assert set(SCENARIOS) == set(RULE_NAMES)


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_switching_a_rule_changes_the_search(rule):
    make_table, mode, *quantile = SCENARIOS[rule]
    table = make_table()
    objective = objective_from_table(table, mode=mode, latency_limit_quantile=quantile[0] if quantile else 0.25)
    flipped = {rule: not getattr(SONAR_RULES, rule)}
    default = run_method(table, objective, EngineMethod("sonar", "sonar"), 0)
    switched = run_method(table, objective, EngineMethod("switched", "sonar", rules=flipped), 0)
    assert switched != default


def test_rules_are_booleans_with_known_names():
    assert SONAR_RULES.without("eliminate").eliminate is False
    with pytest.raises(UserError, match="unknown"):
        SONAR_RULES.without("bogus")
    with pytest.raises(UserError, match="not true or false"):
        Rules(eliminate="yes")
    assert not PLAIN_RULES.forecast and not PLAIN_RULES.eliminate


def test_final_losses_first_ends_every_held_sweep_before_the_budget_runs_out():
    # A table where finalists tune before they train (cheap trials at the last rung) while the rule holds
    # their sweeps: a held sweep that also held back the training once left the best candidate undecided
    # when the replay's cost budget ran out, and the search ended 2% off the best.
    table = load_table(Path(__file__).parents[2] / "benchmarks" / "synthetic-suite" / "s1-t018.jsonl.gz")
    objective = objective_from_table(table, mode="constraint", latency_limit_quantile=0.75)
    trace = run_method(table, objective, EngineMethod("flf", "sonar", rules={"final_losses_first": True}), 0)
    assert trace[-1].regret == 0.0


def _final_state(table, objective, rules: dict, run_dir: Path):
    """The engine's state at the end of one replay."""
    return replay_search(table, objective, replay_spec(table, objective, scheduler="sonar", seed=0, rules=rules),
                         run_dir)


def test_stop_swept_finalists_trains_no_finalist_whose_whole_sweep_misses(tmp_path):
    table = _cheap_tuning_finalists()
    objective = objective_from_table(table, mode="constraint", latency_limit_quantile=0.25)
    max_steps, max_trials = table.header.max_steps, table.header.max_trials

    def trained_out_infeasible(state):
        return [c.id for c in state.candidates.values() if c.steps_done() >= max_steps
                and len(c.tuning) >= max_trials and not c.best_latency() <= objective.latency_limit_s]

    def stopped_swept(state):
        return [d.candidate for d in state.decisions if d.action == "stop" and "whole sweep" in d.reason]

    off = _final_state(table, objective, {"stop_swept_finalists": False}, tmp_path / "off")
    on = _final_state(table, objective, {"stop_swept_finalists": True}, tmp_path / "on")
    assert trained_out_infeasible(off)  # the scenario has finalists that train after their sweep missed
    assert not trained_out_infeasible(on)
    assert len(stopped_swept(on)) > len(stopped_swept(off))  # stopped instead, at the last rung
    assert on.spent_s < off.spent_s


def test_sweep_finalists_first_measures_every_finalist_before_its_last_training(tmp_path):
    # Dear tuning: a finalist's sweep costs more than its last steps, so without the rule it trains first and
    # learns only afterwards that no configuration meets the bound.
    table = _synthetic(24, tuning_cost=10.0)()
    objective = objective_from_table(table, mode="constraint", latency_limit_quantile=0.25)
    max_steps = table.header.max_steps

    def trained_out_infeasible(state):
        return [c.id for c in state.candidates.values()
                if c.steps_done() >= max_steps and not c.best_latency() <= objective.latency_limit_s]

    off = _final_state(table, objective, {"sweep_finalists_first": False}, tmp_path / "off")
    on = _final_state(table, objective, {"sweep_finalists_first": True}, tmp_path / "on")
    assert trained_out_infeasible(off)  # the scenario pays last-rung steps for finalists that cannot be picked
    assert not trained_out_infeasible(on)
