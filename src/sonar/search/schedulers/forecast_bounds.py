"""How the rung machinery (base.py) bends a candidate's forecast (low, mid, high), as pure functions:
the late-gain floor, the size model's screen, the population's recentring, and the curve fits cached by
their inputs (the same curve is forecast on every engine turn until it grows)."""

from __future__ import annotations

import functools
import math

from sonar.model.params import count_parameters
from sonar.search.curves import Forecast, latency_forecast, loss_forecast
from sonar.search.population import RemainingRatios
from sonar.search.state import CandidateState

SCREEN_SPREADS = 3.0  # the latency model rules a candidate out only this many spreads past the bound

def hopeful_low(forecast: Forecast, ratios: RemainingRatios, best: tuple) -> Forecast:
    """The optimistic latency, lowered to what the largest gain any candidate made over the rest of its
    sweep would give, and to 0 while no candidate has been tuned from here to the end. For a space
    with compiled configurations: the tuner tries them after its eager sweep, and they can be several
    times faster, which a curve's own extrapolation cannot see."""
    if not best or not math.isfinite(best[-1]):
        return forecast
    hope = ratios.project(len(best), best[-1], hopeful=True)
    low = 0.0 if hope is None else min(forecast.low, hope)
    return Forecast(low, max(low, forecast.mid), forecast.high)


def screened(forecast: Forecast, prediction: tuple[float, float], best: tuple) -> Forecast:
    """The latency forecast with the cross-architecture model's say: its prediction as the central
    value, and its prediction less SCREEN_SPREADS spreads as a floor under the optimistic bound. Both
    stay under the best latency measured so far, which the final best can only improve on."""
    mean, spread = prediction
    ceiling = best[-1] if best and math.isfinite(best[-1]) else math.inf
    low = min(max(forecast.low, math.exp(mean - SCREEN_SPREADS * spread)), ceiling)
    high = max(forecast.high, low)
    return Forecast(low, min(max(math.exp(mean), low), high, ceiling), high)  # low <= ceiling by construction


def latency_by_trials(c: CandidateState, budgets: list[int]) -> dict[int, float]:
    """Best latency after each trial; a tuner that stopped keeps its final best at every later budget
    (it would measure nothing new), so short complete traces still say how much the rest improves."""
    curve = {i + 1: p.best_latency_s for i, p in enumerate(c.tuning)}
    if c.tuning_complete and c.tuning:
        curve.update({t: c.tuning[-1].best_latency_s for t in budgets if t > len(c.tuning)})
    return curve


@functools.lru_cache(maxsize=4096)
def cached_loss_forecast(steps: tuple, losses: tuple, horizon: int, seed: int) -> Forecast:
    return loss_forecast(list(steps), list(losses), horizon, seed=seed)


@functools.lru_cache(maxsize=4096)
def cached_latency_forecast(best: tuple, horizon: int, spread: float) -> Forecast:
    return latency_forecast(list(best), horizon, spread=spread)


@functools.lru_cache(maxsize=1024)
def total_params(model) -> int:
    return count_parameters(model).total


def weights_at_4_bits(model) -> float:
    """A candidate's memory before any tuner reports it: its weights at 4 bits, the least any format stores."""
    return total_params(model) * 0.5


def recentred(forecast: Forecast, mid: float | None) -> Forecast:
    """The forecast with its central value moved to `mid`, kept inside its own bounds."""
    if mid is None or not math.isfinite(forecast.high):
        return forecast
    return Forecast(forecast.low, within(mid, forecast), forecast.high)


def within(value: float | None, forecast: Forecast) -> float:
    return forecast.mid if value is None else min(max(value, forecast.low), forecast.high)


def measured_forecast(value: float) -> Forecast:
    return Forecast(value, value, value)
