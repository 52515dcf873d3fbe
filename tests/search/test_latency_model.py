import math

import pytest

from sonar.model.presets import preset
from sonar.search.latency_model import MIN_FITTED, LatencyModel, features


def _models(count):
    base = preset("debug")
    return [base.replace(hidden_size=32 * (1 + i % 4), num_hidden_layers=2 + i % 3) for i in range(count)]


def _active_law(model):
    return 1e-9 * math.exp(features(model)[1])  # latency proportional to the active parameters


def test_a_latency_law_in_size_is_recovered_with_a_small_spread():
    models = _models(12)
    fitted = LatencyModel.fit(models, [_active_law(m) for m in models])
    probe = preset("debug").replace(hidden_size=96, num_hidden_layers=3)
    mean, spread = fitted.predict(probe)
    assert math.exp(mean) == pytest.approx(_active_law(probe), rel=1e-2)
    assert spread < 0.05


def test_noise_shows_in_the_spread_and_few_points_say_nothing():
    models = _models(12)
    noisy = [_active_law(m) * (1.5 if i % 2 else 1 / 1.5) for i, m in enumerate(models)]
    assert LatencyModel.fit(models, noisy).spread > 0.2
    assert LatencyModel.fit(models[: MIN_FITTED - 1], noisy[: MIN_FITTED - 1]) is None
    assert LatencyModel.fit(models, [math.inf] * 12) is None

