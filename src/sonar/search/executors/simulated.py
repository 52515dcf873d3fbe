"""A simulated executor: each job takes its recorded (or synthetic) cost on a virtual clock.

Jobs run instantly on the host; their completions sit on an event heap keyed by (finish time,
submission counter), and W virtual workers take queued jobs in submission order. Host time never
enters the clock, so a replay measures schedulers in the currency of the jobs' own costs.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import heapq
from collections.abc import Callable

from sonar.search.records import Outcome
from sonar.search.runner import JobPayload, execute

OVERHEAD_S = 0.05  # per job: dispatch and result reporting


class SimulatedExecutor:
    def __init__(self, workers: int, run: Callable[[JobPayload], Outcome] = execute, *,
                 overhead_s: float = OVERHEAD_S) -> None:
        self.workers = workers
        self.run = run
        self.overhead_s = overhead_s
        self.clock = 0.0
        self._free_at = [0.0] * workers  # heap of the times each worker frees up
        self._events: list[tuple[float, int, cf.Future, Outcome]] = []
        self._counter = 0

    def submit(self, payload: JobPayload) -> cf.Future:
        # its workers are virtual: where the host ran the job says nothing about them
        outcome = dataclasses.replace(self.run(payload), placement=None)
        start = max(self.clock, heapq.heappop(self._free_at))
        finish = start + outcome.cost_s + self.overhead_s
        heapq.heappush(self._free_at, finish)
        future: cf.Future = cf.Future()
        heapq.heappush(self._events, (finish, self._counter, future, outcome))
        self._counter += 1
        return future

    def wait(self, futures: list[cf.Future]) -> list[cf.Future]:
        done = [f for f in futures if f.done()]
        if done:
            return done
        finish, _, future, outcome = heapq.heappop(self._events)
        self.clock = max(self.clock, finish)
        future.set_result(outcome)
        return [future]

    def now(self) -> float:
        return self.clock

    def shutdown(self) -> None:
        self._events.clear()
