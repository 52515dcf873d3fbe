import dataclasses
import json
import math

import pytest

from sonar.bench.joint_space import JointSpace
from sonar.bench.regret import objective_from_table
from sonar.bench.runner import replay_all, run_method, summarize
from sonar.bench.synetune_peer import SyneTunePeer, synetune_available
from sonar.bench.synthetic import synthetic_table

optuna = pytest.importorskip("optuna")

from sonar.bench.optuna_peer import OptunaPeer, optuna_peers  # noqa: E402


@pytest.fixture(scope="module")
def small():
    t = synthetic_table(candidates=10, max_steps=64, max_trials=8, seed=2)
    return t, objective_from_table(t)


def params_of(space: JointSpace, record) -> dict[str, str]:
    """The record's own architecture fields, and the first value of every knob."""
    params = {name: values[0] for name, values in space.choices.items()}
    for name in space.choices:
        if name.startswith("arch."):
            params[name] = json.dumps(getattr(record.model, name[5:]))
    return params


def test_joint_space_maps_a_candidates_own_fields_back_to_it(small):
    t, _ = small
    space = JointSpace(t)
    record = t.candidates[4]
    params = params_of(space, record)
    candidate_id, trial = space.decode(params)
    assert candidate_id == record.id and 0 <= trial < len(record.tuning)


@pytest.mark.parametrize("peer", optuna_peers(), ids=lambda p: p.name)
def test_optuna_peer_runs_on_a_small_table_and_is_scored_by_the_benchmark_rule(small, peer):
    t, objective = small
    trace = run_method(t, objective, peer, seed=0)
    assert trace[-1].seconds > 0 and trace[-1].seconds <= t.brute_force_seconds + max(
        c.train_seconds + c.tune_seconds for c in t.candidates)
    assert all(math.isinf(p.regret) or p.regret >= 0 for p in trace)
    assert not trace[-1].infeasible  # the rule picks only feasible measured configs
    assert run_method(t, objective, peer, seed=0) == trace  # deterministic per seed


def test_optuna_peer_summary_has_the_reported_fields(small):
    t, objective = small
    summary = summarize(t, replay_all(t, objective, [OptunaPeer(pruner="sh", sampler="random")], range(3)))
    row = summary["optuna_sh_random"]
    assert {"speedup_at_1pct_median", "speedup_at_1pct_p25", "speedup_at_1pct_p75", "failures"} <= set(row)
    assert row["speedup_at_1pct_p25"] <= row["speedup_at_1pct_median"] <= row["speedup_at_1pct_p75"]


@pytest.mark.skipif(not synetune_available(), reason="Syne Tune is an optional extra (sonar[peers])")
@pytest.mark.parametrize("kind, mode", [("asha", "constraint"), ("asha_brackets", "constraint"),
                                        ("moasha", "pareto")])
def test_synetune_peer_runs_and_is_deterministic(small, kind, mode):
    t, _ = small
    objective = objective_from_table(t, mode=mode)
    peer = SyneTunePeer(kind)
    trace = run_method(t, objective, peer, seed=1)
    assert trace[-1].seconds > 0
    assert run_method(t, objective, peer, seed=1) == trace


class _PausesOnce:
    """A scheduler that pauses its first trial at the first rung, then resumes it as its next suggestion."""

    def __init__(self, config):
        self.config, self.calls, self.resumed = config, 0, False

    def suggest(self):
        from syne_tune.optimizer.scheduler import TrialSuggestion

        self.calls += 1
        if self.calls == 2:
            return TrialSuggestion.resume_suggestion(0)
        return TrialSuggestion.start_suggestion(self.config) if self.calls < 4 else None

    def on_trial_add(self, trial):
        pass

    def on_trial_result(self, trial, result):
        from syne_tune.optimizer.scheduler import SchedulerDecision

        if trial.trial_id == 0 and not self.resumed:
            self.resumed = True
            return SchedulerDecision.PAUSE
        return SchedulerDecision.CONTINUE

    def on_trial_complete(self, trial, result):
        pass


@pytest.mark.skipif(not synetune_available(), reason="Syne Tune is an optional extra (sonar[peers])")
def test_a_paused_trial_resumes_from_its_own_checkpoint_paying_only_new_steps(small, monkeypatch):
    from sonar.bench.regret import Objective
    from sonar.bench.replay import ReplaySession

    t, _ = small
    objective = Objective(mode="constraint", latency_limit_s=1e9)
    space = JointSpace(t)
    config = params_of(space, t.candidates[0])
    candidate_id, index = space.decode(config)
    assume_feasible = objective.feasible(t.candidate(candidate_id).tuning[index])
    if not assume_feasible:
        pytest.skip("the chosen config failed on this table")
    peer = SyneTunePeer("asha")
    monkeypatch.setattr(peer, "_scheduler", lambda session, space, seed: _PausesOnce(config))
    session = ReplaySession(t, objective)
    peer.run(session, seed=0)
    trial_cost = t.candidate(candidate_id).trial_cost(index)
    train = t.candidate(candidate_id).train_seconds
    # trial 0: measured, paused at the first checkpoint, resumed to the end (one training run in all);
    # trial 1: a new trial of the same point measures again and trains from step 0
    assert session.clock == pytest.approx(2 * trial_cost + 2 * train)


def test_every_peer_treats_a_candidate_without_tuning_trials_as_infeasible(small):
    # A hand-made or cut-short table may record no trial for a candidate; the peers' joint space then has
    # no config to measure for it. They must run on (it is never feasible), not fail on a trial index -1.
    from sonar.bench.suite import available_methods

    t, objective = small
    untuned = {c.id for c in t.candidates[::3]}
    t = dataclasses.replace(t, candidates=tuple(
        dataclasses.replace(c, tuning=()) if c.id in untuned else c for c in t.candidates))
    peers = [m for name, m in available_methods().items() if name.startswith(("optuna", "synetune", "hyperband"))]
    assert peers
    for peer in peers:
        trace = run_method(t, objective, peer, seed=0)
        assert trace[-1].seconds > 0, peer.name
        pick = trace[-1]
        assert not pick.infeasible and math.isfinite(pick.regret), peer.name


@pytest.mark.skipif(not synetune_available(), reason="Syne Tune is an optional extra (sonar[peers])")
def test_moasha_runs_until_the_budget_ends_as_every_method_does():
    # Capped at 8 trials per candidate, MOASHA stopped with most of the budget SONAR gets left unspent where
    # candidates have more configurations than that to measure.
    t = synthetic_table(candidates=6, max_steps=64, max_trials=24, seed=3)
    trace = run_method(t, objective_from_table(t, mode="pareto"), SyneTunePeer("moasha"), seed=0)
    assert trace[-1].seconds >= 0.95 * t.brute_force_seconds
