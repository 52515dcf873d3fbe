"""Decisions of the tuner as pure functions of recorded numbers: sample statistics, when to stop
re-measuring a config (racing), and when the tuning curve has flattened (plateau)."""

from __future__ import annotations

import math
import statistics


def quantile(samples: list[float], q: float) -> float:
    """Linear-interpolation quantile of a non-empty list."""
    ordered = sorted(samples)
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def iqr(samples: list[float]) -> float:
    return quantile(samples, 0.75) - quantile(samples, 0.25) if len(samples) > 1 else 0.0


def without_outliers(samples: list[float], k: float = 3.0) -> list[float]:
    """Drop samples beyond Tukey's far fences (k IQRs past the quartiles): latency tails come from
    the shared machine (another process, a page fault), not from the config under test."""
    if len(samples) < 4:
        return list(samples)
    q1, q3 = quantile(samples, 0.25), quantile(samples, 0.75)
    spread = q3 - q1
    kept = [s for s in samples if q1 - k * spread <= s <= q3 + k * spread]
    return kept or list(samples)


def bernstein_radius(samples: list[float], value_range: float, delta: float) -> float:
    """Empirical-Bernstein confidence radius of the mean (Mnih, Szepesvari & Audibert 2008)."""
    n = len(samples)
    sd = statistics.pstdev(samples) if n > 1 else value_range
    log_term = math.log(3.0 / delta)
    return sd * math.sqrt(2.0 * log_term / n) + 3.0 * value_range * log_term / n


def clearly_slower(samples: list[float], incumbent: list[float], *, factor: float = 1.1, delta: float = 0.05,
                   min_samples: int = 3) -> str | None:
    """Why `samples` are clearly slower than the incumbent's, or None while that is not yet clear.

    Two rules, either suffices: the factor rule (the config's fastest run is slower than the
    incumbent's median and its median is `factor` slower), and an empirical-Bernstein race on the
    outlier-trimmed means. Value range B comes from the pooled samples.
    """
    if len(samples) < min_samples or not incumbent:
        return None
    mine, theirs = without_outliers(samples), without_outliers(incumbent)
    their_median = statistics.median(theirs)
    if min(mine) > their_median and statistics.median(mine) > factor * their_median:
        return f"factor: median {statistics.median(mine):.3g}s > {factor} x incumbent {their_median:.3g}s"
    pooled = mine + theirs
    value_range = max(pooled) - min(pooled)
    if value_range <= 0:
        return None
    lower_mine = statistics.fmean(mine) - bernstein_radius(mine, value_range, delta / 2)
    upper_theirs = statistics.fmean(theirs) + bernstein_radius(theirs, value_range, delta / 2)
    if lower_mine > upper_theirs:
        return f"bernstein: mean lower bound {lower_mine:.3g}s > incumbent upper bound {upper_theirs:.3g}s"
    return None


def plateaued(best_so_far: list[float], *, patience: int, min_gain: float, min_trials: int) -> bool:
    """True when the last `patience` trials improved the best latency by less than `min_gain` (relative).
    `best_so_far` is the non-increasing tuning curve (inf before any acceptable trial)."""
    n = len(best_so_far)
    if n < max(min_trials, patience + 1):
        return False
    before, now = best_so_far[n - 1 - patience], best_so_far[-1]
    if math.isinf(now):
        return False
    return not (now < before * (1.0 - min_gain))
