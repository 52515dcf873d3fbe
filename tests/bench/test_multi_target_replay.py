"""The two-target replay: a laptop table whose latency ranking disagrees with the server's, and SONAR
run over both targets at once, scored per target."""

import math

from sonar.bench.multi_target import brute_force_seconds, laptop_table, replay_sonar, speedups, true_winners
from sonar.bench.regret import objective_from_table
from sonar.bench.synthetic import synthetic_table
from sonar.model.params import count_parameters


def _best_latency(table, candidate_id) -> float:
    objective = objective_from_table(table)
    return min((t.latency_s for t in table.candidate(candidate_id).tuning if objective.acceptable(t)),
               default=math.inf)


def test_the_laptop_table_disagrees_with_the_server_on_latency_only():
    server = synthetic_table(candidates=64, seed=0)
    laptop = laptop_table(server)
    assert [c.curve for c in laptop.candidates] == [c.curve for c in server.candidates]
    moe = next(c for c in server.candidates if count_parameters(c.model).total > count_parameters(c.model).active)
    ratio = count_parameters(moe.model).total / count_parameters(moe.model).active
    assert laptop.candidate(moe.id).tuning[0].latency_s == server.candidate(moe.id).tuning[0].latency_s * ratio
    order = {name: sorted((c.id for c in t.candidates), key=lambda i, t=t: _best_latency(t, i))
             for name, t in (("server", server), ("laptop", laptop))}
    assert order["server"] != order["laptop"]
    winners = true_winners({"server": server, "laptop": laptop})
    assert winners["server"] != winners["laptop"]  # the table says the winners differ
    assert brute_force_seconds({"server": server, "laptop": laptop}) > server.brute_force_seconds


def test_sonar_over_two_targets_is_scored_on_each_targets_table():
    server = synthetic_table(candidates=16, seed=1)
    tables = {"server": server, "laptop": laptop_table(server)}
    traces = replay_sonar(tables, seed=0)
    assert set(traces) == {"server", "laptop"}
    for trace in traces.values():
        assert trace and [s for s, _ in trace] == sorted(s for s, _ in trace)
        assert trace[-1][1] < trace[0][1] or trace[0][1] == 0.0  # it found better picks as it went
    figures = speedups(tables, seeds=1)
    assert all(row["per_seed"][0] > 1.0 for row in figures.values())  # cheaper than brute force on both
