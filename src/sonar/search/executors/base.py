"""The executor contract, and the simplest executor: run each job at once in this process."""

from __future__ import annotations

import concurrent.futures as cf
import time
from typing import Protocol

from sonar.search.runner import JobPayload, execute


class Executor(Protocol):
    def submit(self, payload: JobPayload) -> cf.Future:
        """Start a job; the future resolves to its Outcome (or raises if the worker died)."""
        ...

    def wait(self, futures: list[cf.Future]) -> list[cf.Future]:
        """Block until at least one of `futures` is done; return the done ones."""
        ...

    def now(self) -> float:
        """The clock events are stamped with (virtual for the simulator)."""
        ...

    def shutdown(self) -> None: ...


class WallClockExecutor:
    """Executors whose futures are real: wait on them and stamp events with the wall clock."""

    def wait(self, futures: list[cf.Future]) -> list[cf.Future]:
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def now(self) -> float:
        return time.time()


class InProcessExecutor(WallClockExecutor):
    """One job at a time, in the engine's own process: the simplest, and fully deterministic."""

    def submit(self, payload: JobPayload) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(execute(payload))
        return future

    def shutdown(self) -> None:
        pass
