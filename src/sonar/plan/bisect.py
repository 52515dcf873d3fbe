"""The largest integer a monotone predicate accepts, by bisection (the planner's maxima)."""

from __future__ import annotations

from collections.abc import Callable

MAX_BATCH = 2**31  # far beyond any number of sequences a deployment holds


def largest(ok: Callable[[int], bool], upper: int) -> int:
    """The largest n in [0, upper) with ok(n), for ok true up to some n and false after; ok(0) is assumed."""
    lo, hi = 0, upper
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo
