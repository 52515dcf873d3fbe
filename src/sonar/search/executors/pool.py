"""A local process pool: one job per worker process, a dead worker fails only its own jobs."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from concurrent.futures.process import BrokenProcessPool

from sonar.search.executors.base import WallClockExecutor
from sonar.search.runner import JobPayload, execute


class PoolExecutor(WallClockExecutor):
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        # forkserver: workers fork from a clean single-threaded server that has imported torch and sonar
        # once (forking this threaded process is unsafe; spawning re-imports torch for every worker)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["sonar.search.runner"])
        return cf.ProcessPoolExecutor(self.workers, mp_context=context)

    def submit(self, payload: JobPayload) -> cf.Future:
        try:
            return self._pool.submit(execute, payload)
        except BrokenProcessPool:  # a worker died earlier: its jobs failed; start a fresh pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(execute, payload)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
