"""The reference baselines: random over the feasible candidates, and Hyperband over the joint space."""

from tiny_tables import table

from sonar.bench.hyperband import HyperbandJoint, brackets
from sonar.bench.methods import RandomFeasible
from sonar.bench.regret import Objective, objective_from_table
from sonar.bench.replay import ReplaySession
from sonar.bench.runner import run_method
from sonar.bench.synthetic import synthetic_table

OBJECTIVE = Objective(mode="constraint", latency_limit_s=1.0, quality_delta_max=0.05)


def test_random_feasible_never_pays_for_a_candidate_that_cannot_meet_the_bound():
    t = table([("a", 2.0, [3.0, 2.5]), ("b", 2.2, [1.5, 0.8]), ("c", 2.5, [0.5, 0.4])])
    session = ReplaySession(t, OBJECTIVE)
    RandomFeasible().run(session, seed=0)
    assert set(session.observed) == {"b", "c"}
    assert session.clock == 2 * (32 + 4)
    assert session.finish()[-1].regret == 0.0


def test_hyperband_brackets_follow_the_paper():
    # R = 64, eta = 4: s_max = 3, B = 256
    assert brackets(64) == [[(64, 1), (16, 4), (4, 16), (1, 64)], [(22, 4), (5, 16), (1, 64)],
                            [(8, 16), (2, 64)], [(4, 64)]]
    assert brackets(8) == [[(4, 2), (1, 8)], [(2, 8)]]


class _Counting(ReplaySession):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trained: list[tuple[str, int, str]] = []

    def train(self, candidate_id, until_step, *, run=None):
        self.trained.append((candidate_id, until_step, run))
        return super().train(candidate_id, until_step, run=run)


def test_hyperband_promotes_a_quarter_of_each_rung_and_resumes_its_own_trials():
    t = synthetic_table(candidates=12, max_steps=64, max_trials=8, seed=4)
    objective = Objective(mode="constraint", latency_limit_s=1e9)  # nearly every trial feasible
    session = _Counting(t, objective, budget_s=1e12)
    HyperbandJoint().run(session, seed=0)  # with no budget to end it, its trial safeguard does
    runs: dict[str, list[int]] = {}
    for _, step, run in session.trained:
        runs.setdefault(run, []).append(step)
    # R = 64 / 8 = 8: bracket s=1 trains 4 trials to 16 steps and the best one on to 64; bracket s=0, 2 to 64
    first = [runs[str(i)] for i in range(4) if str(i) in runs]
    assert len(first) >= 3 and all(steps[0] == 16 for steps in first)
    assert sum(steps == [16, 64] for steps in first) <= 1
    assert all(runs[str(i)] == [64] for i in (4, 5) if str(i) in runs)
    assert all(len(set(steps)) == len(steps) for steps in runs.values())  # a trial never retrains a step


def test_hyperband_replays_deterministically_and_ends_on_a_feasible_pick():
    t = synthetic_table(candidates=12, max_steps=64, max_trials=8, seed=4)
    objective = objective_from_table(t)
    trace = run_method(t, objective, HyperbandJoint(), seed=1)
    assert trace == run_method(t, objective, HyperbandJoint(), seed=1)
    assert not trace[-1].infeasible and trace[-1].seconds >= t.brute_force_seconds
