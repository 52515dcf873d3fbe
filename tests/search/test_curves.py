import math

import numpy as np
import pytest

from sonar.search.curves import Forecast, fit_power_law, latency_forecast, loss_forecast, slope_bound


def test_power_law_fit_recovers_parameters():
    t = np.array([10, 20, 40, 80, 160, 320], dtype=float)
    fit = fit_power_law(t, 2.0 + 5.0 * t**-0.5)
    assert fit.a == pytest.approx(2.0, abs=0.05)
    assert fit(5000.0) == pytest.approx(2.0 + 5.0 * 5000**-0.5, abs=0.02)


def test_power_law_fit_keeps_coefficients_nonnegative():
    t = np.array([10, 20, 40, 80], dtype=float)
    fit = fit_power_law(t, np.array([1.0, 1.2, 1.4, 1.6]))  # a rising "loss": b must not go negative
    assert fit.a >= 0 and fit.b >= 0


def test_slope_bound_is_below_the_truth_for_convex_in_log_t_curves():
    for a, b, c in [(2.0, 5.0, 0.5), (1.0, 20.0, 0.2), (3.0, 1.0, 1.5)]:
        t = np.array([10, 30, 90], dtype=float)
        truth = a + b * 2430.0**-c
        assert slope_bound(t, a + b * t**-c, 2430) <= truth + 1e-12


def test_loss_forecast_brackets_the_final_loss_on_noisy_curves():
    horizon, hits, trials = 810, 0, 60
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        a, b, c = rng.uniform(1, 3), rng.uniform(2, 8), rng.uniform(0.2, 1.0)
        steps = [10, 20, 30, 50, 70, 90]
        losses = [a + b * s**-c + 0.01 * rng.normal() for s in steps]
        forecast = loss_forecast(steps, losses, horizon, seed=seed)
        truth = a + b * horizon**-c
        hits += forecast.low <= truth <= forecast.high
        assert forecast.low <= forecast.mid <= forecast.high
    assert hits / trials >= 0.9


def test_loss_forecast_edge_cases():
    assert loss_forecast([], [], 100, seed=0) == Forecast(0.0, math.inf, math.inf)
    assert loss_forecast([10], [3.0], 100, seed=0) == Forecast(0.0, 3.0, 3.0)
    assert loss_forecast([50, 100], [3.0, 2.5], 100, seed=0) == Forecast(2.5, 2.5, 2.5)  # done: exact
    assert loss_forecast([10, 20], [3.0, math.nan], 100, seed=0).low == math.inf  # diverged
    two = loss_forecast([10, 20], [3.0, 2.8], 100, seed=0)
    assert two.low < 2.8 == two.high
    noisy = ([10, 20, 30, 40], [3.0, 2.8, 2.9, 2.7])
    assert loss_forecast(*noisy, 500, seed=1) == loss_forecast(*noisy, 500, seed=1)


def test_latency_forecast_bounds():
    curve = [0.05, 0.03, 0.03, 0.02, 0.02, 0.02, 0.02, 0.02, 0.019]
    f = latency_forecast(curve, 27, spread=0.001)
    assert f.high == 0.019  # the current best is reachable already
    assert 0 <= f.low < f.mid <= f.high
    assert latency_forecast(curve, 9) == Forecast(0.019, 0.019, 0.019)
    assert latency_forecast([0.05], 27).low == 0.0  # one trial: anything is possible
    assert latency_forecast([math.inf, math.inf], 27) == Forecast(0.0, math.inf, math.inf)
    assert latency_forecast([math.inf], 1).low == math.inf


def test_latency_forecast_tightens_with_more_trials():
    early = latency_forecast([0.05, 0.03, 0.03], 27)
    late = latency_forecast([0.05, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03], 27)
    assert late.low > early.low
