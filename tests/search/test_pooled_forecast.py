"""pooled_forecast: a rung's loss predicted across candidates, from those that went further."""

import math
from types import SimpleNamespace

import numpy as np

from sonar.bench.synthetic import synthetic_table
from sonar.search.curves import Forecast
from sonar.search.objective import Point
from sonar.search.schedulers.pooled_forecast import MIN_FITTED, fit_rung_predictors, loss_at, pooled
from sonar.search.state import CandidateState

LADDER = [(8, 1), (32, 4), (128, 12)]


def _state(table, trained_out: int):
    """The first `trained_out` candidates trained to the end, the rest to rung 0's steps only."""
    candidates = {}
    for index, record in enumerate(table.candidates):
        until = LADDER[-1][0] if index < trained_out else LADDER[0][0]
        candidates[record.id] = CandidateState(id=record.id, index=index, model=record.model, seed=0,
                                               curve=[p for p in record.curve if p.step <= until])
    return SimpleNamespace(candidates=candidates)


def _spearman(a, b) -> float:
    rank = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    return float(np.corrcoef(rank(np.asarray(a)), rank(np.asarray(b)))[0, 1])


def test_on_crossing_curves_the_pooled_prediction_ranks_the_rest_better_than_their_early_loss():
    # the synthetic model's larger architectures start higher and end lower: early loss misranks them
    table = synthetic_table(candidates=40, max_steps=128, max_trials=8, seed=3)
    state = _state(table, trained_out=12)
    predict = fit_rung_predictors(LADDER, state)[0]
    rest = [c for c in state.candidates.values() if c.index >= 12]
    final = [table.candidate(c.id).curve[-1].val_loss for c in rest]
    early = [loss_at(c, 8) for c in rest]
    pooled_rho, early_rho = _spearman([predict(c) for c in rest], final), _spearman(early, final)
    assert pooled_rho > early_rho + 0.3, (pooled_rho, early_rho)


def test_no_predictor_until_enough_candidates_reached_a_later_rung():
    table = synthetic_table(candidates=20, max_steps=128, max_trials=8, seed=3)
    assert fit_rung_predictors(LADDER, _state(table, trained_out=MIN_FITTED - 1)) == {}
    predictors = fit_rung_predictors(LADDER, _state(table, trained_out=MIN_FITTED))
    assert set(predictors) == {0, 1}  # the last rung ranks nobody for promotion
    short = CandidateState(id="x", index=99, model=table.candidates[0].model, seed=0, curve=[])
    assert predictors[0](short) is None  # no rung-0 loss yet: nothing to predict from


def test_a_pooled_point_moves_its_centre_and_keeps_its_latency():
    point = Point(id="c", loss=Forecast(2.0, 2.5, 3.0), latency=Forecast(1.0, 2.0, 3.0))
    moved = pooled(point, 1.5)
    assert moved.loss == Forecast(1.5, 1.5, 3.0) and moved.latency == point.latency
    assert pooled(point, None) == point and pooled(point, math.inf) == point
