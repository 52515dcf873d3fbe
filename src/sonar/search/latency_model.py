"""A latency model across architectures, fitted on the candidates a search has tuned to the end.

A candidate's best latency is mostly a property of its size: decode at batch 1 reads its active
weights once per token, so the tuned latencies of one search lie close to a line in the logs of its
parameter counts. Fitted on the candidates whose tuning finished, the line predicts the final best
latency of a candidate before (or after one cheap trial of) its own tuning, which is what a
screen for feasibility needs: a candidate its size rules out need not be trained.

    features(c) = [1, log active params, log total params, log layers, log hidden size]
    fit:      ridge regression of log(final best latency) on features, over the n finished sweeps
    spread:   root mean square of the leave-one-out residuals, inflated by sqrt((n + 1) / (n - p))
              for a small sample (p features): a model fitted on few points claims little
    predict:  (log-latency mean, spread); None while fewer than MIN_FITTED sweeps are finished

The model only ever widens nothing and guarantees nothing: the scheduler uses it for a forecast's
central value and, with a margin of several spreads, as a screen (policy rule `latency_model`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sonar.model.config import ModelConfig
from sonar.model.params import count_parameters

MIN_FITTED = 6  # finished sweeps before the model says anything
RIDGE = 1e-3  # relative to the features' scale: keeps a small sample's fit well posed


@functools.lru_cache(maxsize=4096)
def features(model: ModelConfig) -> tuple[float, ...]:
    counts = count_parameters(model)
    return (1.0, math.log(max(counts.active, 1)), math.log(max(counts.total, 1)),
            math.log(model.num_hidden_layers), math.log(model.hidden_size))


@dataclass(frozen=True)
class LatencyModel:
    weights: tuple[float, ...]
    spread: float  # of log latency
    fitted: int

    @classmethod
    def fit(cls, models: Sequence[ModelConfig], latencies_s: Sequence[float]) -> LatencyModel | None:
        pairs = tuple(sorted((features(m), math.log(t)) for m, t in zip(models, latencies_s, strict=True)
                             if math.isfinite(t) and t > 0))
        return _fit(cls, pairs) if len(pairs) >= MIN_FITTED else None

    def predict(self, model: ModelConfig) -> tuple[float, float]:
        """(mean, spread) of the log of the final best latency."""
        return float(np.dot(self.weights, features(model))), self.spread


@functools.lru_cache(maxsize=256)  # a search refits on every decision, mostly on the same sweeps
def _fit(cls, pairs: tuple) -> LatencyModel:
    x_NF = np.array([p[0] for p in pairs])
    y_N = np.array([p[1] for p in pairs])
    weights = _ridge(x_NF, y_N)
    residuals = [y_N[i] - x_NF[i] @ _ridge(np.delete(x_NF, i, 0), np.delete(y_N, i)) for i in range(len(pairs))]
    n, p = x_NF.shape
    inflation = math.sqrt((n + 1) / max(n - p, 1))
    spread = float(np.sqrt(np.mean(np.square(residuals)))) * inflation
    return cls(weights=tuple(float(w) for w in weights), spread=spread, fitted=n)


def _ridge(x_NF: np.ndarray, y_N: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(x_NF).max(0), 1e-12)
    z_NF = x_NF / scale
    penalty = RIDGE * np.eye(z_NF.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(z_NF.T @ z_NF + penalty, z_NF.T @ y_N) / scale
