"""Where a candidate's two curves will end, with uncertainty.

Learning curve (val loss against steps t): fit L(t) = a + b t^-c with a, b >= 0 by a grid over c
and least squares in (a, b) at each c. The optimistic (low) bound at the horizon T is the lower of
a residual-bootstrap quantile and the fit-free slope bound: a curve convex and decreasing in ln t
satisfies L(T) >= L(t_n) + s ln(T / t_n) for any s at most its slope at t_n, and every secant
ending at t_n is such an s. The pessimistic (high) bound is the last loss: losses do not rise.

Tuning curve (best latency g(n) after n trials): the current best bounds the final best from above.
The optimistic bound applies the same secant argument in ln n, with the secant over all trials so
far (tuning curves are step functions, so the last segment alone may be flat before a jump) and
less the measurement spread: a heuristic, since no tuner guarantees convexity, but one that errs
on the side of keeping candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

C_GRID = np.geomspace(0.05, 3.0, 48)
BOOTSTRAPS = 64
LOW_QUANTILE = 0.05
NOISE_SIGMAS = 2.0


@dataclass(frozen=True)
class Forecast:
    """Optimistic, central and pessimistic predictions of a final value (lower is better)."""

    low: float
    mid: float
    high: float

    def __post_init__(self) -> None:
        if not self.low <= self.mid <= self.high:
            raise ValueError(f"forecast out of order: low={self.low} mid={self.mid} high={self.high}")


@dataclass(frozen=True)
class PowerLaw:
    a: float
    b: float
    c: float
    sse: float

    def __call__(self, t: float | np.ndarray) -> float | np.ndarray:
        return self.a + self.b * np.power(t, -self.c)


def fit_power_law(steps: np.ndarray, losses: np.ndarray) -> PowerLaw:
    """Least squares over a grid of c; (a, b) solved in closed form with both kept >= 0."""
    a, b, c, sse = _fit_many(np.asarray(steps, dtype=float), np.asarray(losses, dtype=float)[None, :])
    return PowerLaw(a=float(a[0]), b=float(b[0]), c=float(c[0]), sse=float(sse[0]))


def _fit_many(t: np.ndarray, y_BN: np.ndarray) -> tuple[np.ndarray, ...]:
    """Best (a, b, c, sse) for each of B curves over the c grid, vectorised (legend: B curves,
    C grid values of c, N points). For each c, min ||a + b x - y|| over a, b >= 0 has its optimum
    inside the quadrant or on an edge (b = 0: a = mean y; a = 0: b = x.y / x.x)."""
    x_CN = np.power(t[None, :], -C_GRID[:, None])
    n = t.shape[0]
    sx_C, sxx_C = x_CN.sum(1), (x_CN * x_CN).sum(1)
    sy_B = y_BN.sum(1)
    sxy_BC = y_BN @ x_CN.T
    det_C = n * sxx_C - sx_C**2
    b_BC = (n * sxy_BC - sy_B[:, None] * sx_C) / np.where(det_C > 0, det_C, np.inf)
    a_BC = (sy_B[:, None] - b_BC * sx_C) / n
    inside = (a_BC >= 0) & (b_BC >= 0)
    edge_b0 = (np.broadcast_to(np.maximum(sy_B / n, 0.0)[:, None], b_BC.shape), np.zeros_like(b_BC))
    edge_a0 = (np.zeros_like(a_BC), np.maximum(sxy_BC / sxx_C, 0.0))

    def sse(a, b):
        return ((a[..., None] + b[..., None] * x_CN[None] - y_BN[:, None, :]) ** 2).sum(-1)

    candidates = [(np.where(inside, a_BC, np.inf), np.where(inside, b_BC, 0.0)), edge_b0, edge_a0]
    errors = np.stack([np.where(np.isfinite(a), sse(np.where(np.isfinite(a), a, 0.0), b), np.inf)
                       for a, b in candidates])  # [3, B, C]
    which = errors.argmin(0)
    a_all = np.stack([np.where(np.isfinite(a), a, 0.0) for a, _ in candidates])
    b_all = np.stack([b for _, b in candidates])
    err_BC = np.take_along_axis(errors, which[None], 0)[0]
    a_BC = np.take_along_axis(a_all, which[None], 0)[0]
    b_BC = np.take_along_axis(b_all, which[None], 0)[0]
    best_B = err_BC.argmin(1)
    rows = np.arange(y_BN.shape[0])
    return a_BC[rows, best_B], b_BC[rows, best_B], C_GRID[best_B], err_BC[rows, best_B]


def slope_bound(steps: np.ndarray, losses: np.ndarray, horizon: float, *, lookback: int = 3) -> float:
    """Fit-free optimistic loss at `horizon` for a curve convex and decreasing in ln t."""
    t_n, l_n = float(steps[-1]), float(losses[-1])
    secants = [(l_n - float(losses[j])) / (math.log(t_n) - math.log(float(steps[j])))
               for j in range(max(0, len(steps) - 1 - lookback), len(steps) - 1) if steps[j] < t_n]
    if not secants:
        return 0.0
    steepest = min(min(secants), 0.0)
    return l_n + steepest * math.log(horizon / t_n)


def loss_forecast(steps: list[int], losses: list[float], horizon: int, *, seed: int) -> Forecast:
    """Final val loss at `horizon` steps. Non-finite losses (diverged runs) forecast as +inf."""
    if not losses:
        return Forecast(0.0, math.inf, math.inf)
    if not all(math.isfinite(v) for v in losses):
        return Forecast(math.inf, math.inf, math.inf)
    t = np.asarray(steps, dtype=float)
    y = np.asarray(losses, dtype=float)
    last = float(y[-1])
    if t[-1] >= horizon:
        return Forecast(last, last, last)
    if len(y) == 1:
        return Forecast(0.0, last, last)
    slope_low = slope_bound(t, y, horizon)
    if len(y) < 3:
        low = max(0.0, min(slope_low, last))
        return Forecast(low, last, last)
    if len(y) >= 5:  # the first evaluation sits in the warmup bump; fit what follows
        t, y = t[1:], y[1:]
    fit = fit_power_law(t, y)
    residuals = y - fit(t)
    sigma = float(np.sqrt(fit.sse / max(len(y) - 2, 1)))
    rng = np.random.default_rng(seed)
    resampled_BN = fit(t)[None, :] + rng.choice(residuals, size=(BOOTSTRAPS, len(residuals)), replace=True)
    a_B, b_B, c_B, _ = _fit_many(t, resampled_BN)
    boot_low = float(np.quantile(a_B + b_B * np.power(float(horizon), -c_B), LOW_QUANTILE))
    high = last + NOISE_SIGMAS * sigma
    low = max(0.0, min(boot_low, slope_low - NOISE_SIGMAS * sigma, last))
    mid = min(max(float(fit(horizon)), low), high)
    return Forecast(low, mid, high)


def latency_forecast(best_so_far: list[float], horizon: int, *, spread: float = 0.0) -> Forecast:
    """Best reachable latency after `horizon` trials, from g(1..n), the best latency after each trial.

    The optimistic bound continues the average improvement per unit of ln n seen so far (the
    steepest secant ending at n of a curve convex in ln n): g(N) >= g(n) + s ln(N/n) - spread."""
    n = len(best_so_far)
    finite = [(i + 1, v) for i, v in enumerate(best_so_far) if math.isfinite(v)]
    if not finite:
        return Forecast(0.0, math.inf, math.inf) if n < horizon else Forecast(math.inf, math.inf, math.inf)
    best = finite[-1][1]
    if n >= horizon:
        return Forecast(best, best, best)
    first_trial, first = finite[0]
    if n <= first_trial:  # one measured point: nothing to extrapolate from
        return Forecast(0.0, best, best)
    slope = (best - first) / math.log(n / first_trial)  # <= 0: g never rises
    reach = slope * math.log(horizon / n)
    low = max(0.0, best + reach - spread)
    return Forecast(low, max(low, best + 0.25 * reach), best)
