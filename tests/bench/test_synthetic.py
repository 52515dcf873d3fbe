"""Each structural knob of the synthetic table does what its documentation says."""

import math

import numpy as np
import pytest

from sonar.bench.regret import objective_from_table
from sonar.bench.synthetic import Structure, synthetic_table

SMALL = {"candidates": 32, "max_steps": 128, "max_trials": 12, "seed": 7}


def _table(**knobs):
    return synthetic_table(**SMALL, structure=Structure(**knobs))


def _ranks(losses):
    return {cid: rank for rank, (_, cid) in enumerate(sorted((loss, cid) for cid, loss in losses.items()))}


def _best_latency(candidate, quality=0.05):
    return min((t.latency_s for t in candidate.tuning if t.failure is None and t.quality_delta <= quality),
               default=math.inf)


def test_the_default_structure_reproduces_the_original_candidates():
    assert _table().candidates == synthetic_table(**SMALL).candidates


def test_late_bloomers_rank_badly_early_and_best_at_the_end():
    table = _table(late_bloomers=0.25)
    late = table.header.provenance["late_bloomers"]
    assert len(late) == 8
    first = _ranks({c.id: c.curve[0].val_loss for c in table.candidates})
    final = _ranks({c.id: c.final_val_loss for c in table.candidates})
    others = [c for c in table.candidates if c.id not in late]
    worst_early = np.quantile([c.curve[0].val_loss for c in others], 0.9)
    assert all(table.candidate(cid).curve[0].val_loss > worst_early for cid in late)  # among the worst early
    assert all(first[cid] != final[cid] for cid in late)
    assert sorted(final[cid] for cid in late) == list(range(len(late)))  # the best at the end
    middle = len(table.header.checkpoints) // 2
    halfway = _ranks({c.id: c.curve[middle].val_loss for c in table.candidates})
    assert all(halfway[cid] >= len(late) for cid in late)  # still not the best halfway: they bloom late
    assert _table(late_bloomers=0.0).header.provenance["late_bloomers"] == []


def test_dearer_tuning_raises_tunings_share_of_brute_force_by_the_factor():
    def tuning_share(table):
        tune = sum(c.tune_seconds for c in table.candidates)
        return tune / table.brute_force_seconds

    cheap, same, dear = (_table(tuning_cost=f) for f in (0.1, 1.0, 10.0))
    assert tuning_share(cheap) < tuning_share(same) < tuning_share(dear)
    assert dear.candidates[0].tune_seconds == pytest.approx(100 * cheap.candidates[0].tune_seconds, rel=1e-3)
    assert [c.curve for c in dear.candidates] == [c.curve for c in cheap.candidates]  # training untouched


def test_curve_noise_is_the_standard_deviation_of_the_loss_noise():
    clean, noisy = _table(curve_noise=0.0), _table(curve_noise=0.05)
    deltas = [n.val_loss - c.val_loss for a, b in zip(clean.candidates, noisy.candidates, strict=True)
              for c, n in zip(a.curve, b.curve, strict=True)]
    assert np.std(deltas) == pytest.approx(0.05, rel=0.2)


def test_compiled_gain_ends_every_trace_with_a_much_faster_compiled_trial():
    table = _table(compiled_gain=5.0)
    gains = []
    for c in table.candidates:
        assert len(c.tuning) == SMALL["max_trials"]
        assert {t.config["compile"] for t in c.tuning[:-1]} == {"none"} and c.tuning[-1].config["compile"] == "default"
        assert c.trial_cost(len(c.tuning) - 1) >= 20.0  # a compile is dear
        eager = _best_latency(type(c)(id=c.id, model=c.model, curve=c.curve, tuning=c.tuning[:-1]))
        if math.isfinite(eager):
            gains.append(eager / c.tuning[-1].latency_s)
    assert 3.0 < float(np.median(gains)) < 8.0
    assert table.header.knob_space["space"]["compiles"] == ["eager", "default"]
    assert "space" not in _table().header.knob_space


@pytest.mark.parametrize("share", [0.2, 0.8])
def test_feasible_share_sets_how_many_candidates_meet_the_default_bound(share):
    table = _table(feasible_share=share)
    limit = objective_from_table(table).latency_limit_s
    feasible = sum(_best_latency(c) <= limit for c in table.candidates)
    assert abs(feasible / len(table.candidates) - share) <= 2 / len(table.candidates)


def test_latency_spread_widens_or_narrows_the_candidates_latencies():
    def log_range(table):
        bests = [math.log(_best_latency(c)) for c in table.candidates if math.isfinite(_best_latency(c))]
        return max(bests) - min(bests)

    assert log_range(_table(latency_spread=0.5)) < log_range(_table()) < log_range(_table(latency_spread=1.6))


def test_structure_rejects_values_outside_their_range():
    with pytest.raises(ValueError, match="late_bloomers"):
        Structure(late_bloomers=1.5)
    with pytest.raises(ValueError, match="tuning_cost"):
        Structure(tuning_cost=0)
