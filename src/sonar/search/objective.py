"""The three objectives: what "cannot be optimal" means, how a rung is ranked, which point wins.

Each candidate is summarised by a Point: forecasts of its final val loss and best latency, and its
memory. Lower is better for every coordinate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sonar.search.curves import Forecast
from sonar.search.spec import Objective


@dataclass(frozen=True)
class Point:
    id: str
    loss: Forecast
    latency: Forecast
    memory: float = 0.0
    long_breaks: bool = False  # its measured long-context quality breaks the spec's bound (long_context.py)


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[0] and a[1] <= b[1] and (a[0] < b[0] or a[1] < b[1])


def eliminated(objective: Objective, point: Point, others: list[Point]) -> str | None:
    """Why `point` cannot be optimal even in its optimistic case, or None while it still can."""
    if objective.kind == "constraint":
        if point.latency.low > objective.latency_s:
            return f"latency bound: optimistic {point.latency.low:.4g}s > {objective.latency_s:.4g}s"
        if objective.memory_bytes is not None and point.memory > objective.memory_bytes:
            return f"memory bound: {point.memory:.3g} B > {objective.memory_bytes:.3g} B"
        for other in others:
            if other.id != point.id and _certainly_feasible(objective, other) and other.loss.high < point.loss.low:
                return (f"beaten: {other.id} certainly meets the bound with loss <= {other.loss.high:.4g}"
                        f" < optimistic {point.loss.low:.4g}")
        return None
    if objective.kind == "pareto":
        optimistic = (point.loss.low, point.latency.low)
        for other in others:
            if other.id != point.id and dominates((other.loss.high, other.latency.high), optimistic):
                return f"dominated: {other.id}'s pessimistic point dominates the optimistic one"
        return None
    optimistic = _reward(objective, point.loss.low, point.latency.low)
    for other in others:
        if other.id != point.id and _reward(objective, other.loss.high, other.latency.high) < optimistic:
            return f"beaten: {other.id}'s pessimistic reward < optimistic {optimistic:.4g}"
    return None


def _certainly_feasible(objective: Objective, point: Point) -> bool:
    memory_ok = objective.memory_bytes is None or point.memory <= objective.memory_bytes
    return memory_ok and point.latency.high <= objective.latency_s and not point.long_breaks


def _reward(objective: Objective, loss: float, latency: float) -> float:
    return objective.loss_weight * loss + objective.latency_weight * latency


def rank(objective: Objective, points: list[Point], *, loss_only: bool = False, hopeful: bool = False) -> list[str]:
    """Ids best first, by central forecasts. Pareto mode: non-dominated fronts, each ordered by an
    epsilon-net; the returned order is the rank (a position), never a per-front label. Constraint mode
    with `hopeful`: a candidate ranks behind those that may meet the latency bound only when its
    optimistic latency misses it, rather than its central one."""
    # a candidate whose measured long-context quality breaks the bound ranks behind every other
    if loss_only:
        return [p.id for p in sorted(points, key=lambda p: (p.long_breaks, p.loss.mid, p.id))]
    if objective.kind == "constraint":
        def key(p: Point) -> tuple:
            over_memory = objective.memory_bytes is not None and p.memory > objective.memory_bytes
            # a candidate not measured yet (no central latency) may still meet the bound: it ranks on loss
            # beside the feasible ones, not behind them
            latency = p.latency.low if hopeful else p.latency.mid
            over_latency = math.isfinite(latency) and latency > objective.latency_s
            return (over_latency or over_memory or p.long_breaks, p.loss.mid, p.latency.mid, p.id)
        return [p.id for p in sorted(points, key=key)]
    if objective.kind == "scalarized":
        return [p.id for p in sorted(points, key=lambda p: (p.long_breaks, _reward(objective, p.loss.mid,
                                                                                        p.latency.mid), p.id))]
    return [i for group in (False, True)
            for i in pareto_order([(p.id, p.loss.mid, p.latency.mid) for p in points if p.long_breaks == group])]


def pareto_order(items: list[tuple[str, float, float]]) -> list[str]:
    """Non-dominated sorting, then within each front an epsilon-net on normalised (loss, log latency):
    start from the lowest loss, then repeatedly take the point farthest from those taken."""
    items = sorted(items, key=lambda it: it[0])
    coords = np.array([[_finite(loss), math.log(max(_finite(lat), 1e-12))] for _, loss, lat in items], dtype=float)
    if len(items) == 0:
        return []
    span = coords.max(0) - coords.min(0)
    norm = (coords - coords.min(0)) / np.where(span > 0, span, 1.0)
    remaining = list(range(len(items)))
    order: list[str] = []
    while remaining:
        front = [i for i in remaining
                 if not any(dominates(tuple(coords[j]), tuple(coords[i])) for j in remaining if j != i)]
        chosen = [min(front, key=lambda i: (coords[i][0], coords[i][1]))]
        rest = [i for i in front if i != chosen[0]]
        while rest:
            far = max(rest, key=lambda i: (min(float(np.linalg.norm(norm[i] - norm[c])) for c in chosen), -i))
            chosen.append(far)
            rest.remove(far)
        order.extend(items[i][0] for i in chosen)
        remaining = [i for i in remaining if i not in front]
    return order


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 1e30


def pareto_front(points: list[tuple[str, float, float]]) -> list[str]:
    """Ids whose measured (loss, latency) no other point dominates; non-finite points are left out."""
    finite = [p for p in points if math.isfinite(p[1]) and math.isfinite(p[2])]
    return [a[0] for a in finite if not any(dominates((b[1], b[2]), (a[1], a[2])) for b in finite if b is not a)]


def choose(objective: Objective, measured: list[tuple[str, float, float, float]]) -> str | None:
    """The recommendation from measured (id, loss, latency, memory): best feasible loss under the
    constraint, lowest reward, or on the Pareto front the point nearest the normalised ideal."""
    finite = [m for m in measured if math.isfinite(m[1])]
    if objective.kind == "constraint":
        feasible = [m for m in finite if m[2] <= objective.latency_s
                    and (objective.memory_bytes is None or m[3] <= objective.memory_bytes)]
        return min(feasible, key=lambda m: (m[1], m[2], m[0]))[0] if feasible else None
    finite = [m for m in finite if math.isfinite(m[2])]
    if not finite:
        return None
    if objective.kind == "scalarized":
        return min(finite, key=lambda m: (_reward(objective, m[1], m[2]), m[0]))[0]
    front = set(pareto_front([(m[0], m[1], m[2]) for m in finite]))
    on_front = [m for m in finite if m[0] in front]
    coords = np.array([[m[1], math.log(max(m[2], 1e-12))] for m in on_front])
    span = coords.max(0) - coords.min(0)
    norm = (coords - coords.min(0)) / np.where(span > 0, span, 1.0)
    return on_front[int(np.argmin(norm.sum(1)))][0]
