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


def test_joint_space_maps_a_candidates_own_fields_back_to_it(small):
    t, _ = small
    space = JointSpace(t)
    record = t.candidates[4]
    params = {name: values[0] for name, values in space.choices.items()}
    for name in space.choices:
        if name.startswith("arch."):
            params[name] = __import__("json").dumps(getattr(record.model, name[5:]))
    candidate_id, trial = space.decode(params)
    assert candidate_id == record.id and 0 <= trial < len(record.tuning)


@pytest.mark.parametrize("peer", optuna_peers(), ids=lambda p: p.name)
def test_optuna_peer_runs_on_a_small_table_and_recommends_only_what_it_completed(small, peer):
    t, objective = small
    trace = run_method(t, objective, peer, seed=0)
    assert trace[-1].seconds > 0 and trace[-1].seconds <= t.brute_force_seconds + max(
        c.train_seconds + c.tune_seconds for c in t.candidates)
    assert all(math.isinf(p.regret) or p.regret >= 0 for p in trace)
    assert not trace[-1].infeasible  # it only recommends feasible completed trials
    assert run_method(t, objective, peer, seed=0) == trace  # deterministic per seed


def test_optuna_peer_summary_has_the_reported_fields(small):
    t, objective = small
    summary = summarize(t, replay_all(t, objective, [OptunaPeer(pruner="sh", sampler="random")], range(3)))
    row = summary["optuna_sh_random"]
    assert {"speedup_at_1pct_median", "speedup_at_1pct_p25", "speedup_at_1pct_p75", "failures"} <= set(row)
    assert row["speedup_at_1pct_p25"] <= row["speedup_at_1pct_median"] <= row["speedup_at_1pct_p75"]


@pytest.mark.skipif(not synetune_available(), reason="Syne Tune is an optional extra (sonar[peers])")
@pytest.mark.parametrize("kind, mode", [("asha", "constraint"), ("moasha", "pareto")])
def test_synetune_peer_runs_and_is_deterministic(small, kind, mode):
    t, _ = small
    objective = objective_from_table(t, mode=mode)
    peer = SyneTunePeer(kind)
    trace = run_method(t, objective, peer, seed=1)
    assert trace[-1].seconds > 0
    assert run_method(t, objective, peer, seed=1) == trace
