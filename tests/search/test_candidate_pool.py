import pytest

from sonar.interfaces import TuningPoint
from sonar.model import preset
from sonar.search.records import Job
from sonar.search.runner import JobPayload, execute
from sonar.search.space import sample_architectures
from sonar.search.spec import SpecError, parse_spec

BASE = {"name": "p", "budget": {"max_steps": 8, "max_trials": 2, "candidates": 3}, "backend": "synthetic",
        "objective": {"kind": "pareto"}}


def _pool(n):
    return [preset("debug").replace(num_hidden_layers=2 + i).to_dict() for i in range(n)]


def test_a_pool_is_drawn_whole_in_a_seeded_order():
    spec = parse_spec({**BASE, "arch": {"pool": _pool(5)}})
    draws = [sample_architectures(spec.arch, seed=s, count=5) for s in range(4)]
    assert all(sorted(d.num_hidden_layers for d in draw) == [2, 3, 4, 5, 6] for draw in draws)
    assert len({tuple(d.num_hidden_layers for d in draw) for draw in draws}) > 1  # the seed orders them
    assert sample_architectures(spec.arch, seed=1, count=2) == draws[1][:2]


def test_pool_errors_name_the_entry():
    with pytest.raises(SpecError, match=r"arch.pool\[1\]: the same architecture as pool\[0\]"):
        parse_spec({**BASE, "arch": {"pool": _pool(1) * 2}})
    with pytest.raises(SpecError, match=r"arch.pool\[0\]"):
        parse_spec({**BASE, "arch": {"pool": [{"no_such_field": 1}]}})
    with pytest.raises(SpecError, match="arch.rules: unknown key"):
        parse_spec({**BASE, "arch": {"pool": _pool(1), "rules": []}})


class _ZeroBasedTuner:
    def run(self, candidate, until_trial):
        return [TuningPoint(trial=i, seconds=2.0 * (i + 1), config={}, latency_s=1.0, spread_s=0.0,
                            quality_delta=0.0, best_latency_s=1.0) for i in range(until_trial)]


def test_a_tuning_job_is_charged_the_trials_it_ran_whatever_the_numbering(tmp_path):
    from sonar.search.backends import Backend

    spec_raw = {**BASE, "arch": {"pool": _pool(1)}}
    backend = Backend(trainer=None, tuner=_ZeroBasedTuner())
    payload = JobPayload(job=Job(candidate="c000", kind="tune", rung=1, until=3, start=1),
                         model=_pool(1)[0], seed=0, workdir=str(tmp_path), spec_raw=spec_raw, backend="synthetic")
    assert execute(payload, backend).cost_s == 4.0  # trials 2 and 3 (2 s each), trial 1 was paid before
    first = JobPayload(**{**payload.__dict__, "job": Job(candidate="c000", kind="tune", rung=0, until=1)})
    assert execute(first, backend).cost_s == 2.0


def test_rules_that_reject_most_draws_do_not_end_the_draws_early():
    # 128 valid architectures, about one draw in a hundred passing the rule: rejected draws counted as misses
    # ended the draws after two or three architectures, and a search of 12 candidates silently searched 2.
    from sonar.search.arch_space import parse_arch_space

    space = parse_arch_space({"base": "debug", "num_hidden_layers": [1, 2, 3, 4], "hidden_size": {"int": [32, 1024]},
                              "num_attention_heads": [1, 2, 4], "rules": ["hidden_size % 64 == 0"]}, "arch")
    assert len(sample_architectures(space, seed=0, count=10)) == 10
