"""Executors run jobs and hand back futures of Outcomes: in-process, process pool, Ray, simulated."""

from __future__ import annotations

from sonar.errors import UserError
from sonar.search.executors.base import Executor, InProcessExecutor
from sonar.search.executors.pool import PoolExecutor
from sonar.search.executors.simulated import SimulatedExecutor


def make_executor(spec, kind: str | None = None, *, address: str | None = None, workers: int | None = None):
    kind = kind or spec.executor.kind
    workers = workers or spec.executor.workers
    if kind == "inprocess":
        return InProcessExecutor()
    if kind == "pool":
        return PoolExecutor(workers)
    if kind == "simulated":
        return SimulatedExecutor(workers)
    if kind == "ray":
        from sonar.search.executors.ray_executor import RayExecutor

        return RayExecutor(spec, address=address or spec.executor.address, workers=workers)
    raise UserError(f"executor {kind!r}: must be inprocess, pool, ray or simulated")


__all__ = ["Executor", "InProcessExecutor", "PoolExecutor", "SimulatedExecutor", "make_executor"]
