"""Engines racing for one run, in a module of its own so that spawned processes can import it."""

import os
import time

from sonar.errors import UserError
from sonar.search.engine import run_search
from sonar.search.executors import SimulatedExecutor


class HeldUntilRivalsRefused(SimulatedExecutor):
    """Holds its run at the first job until every rival engine has been refused, so a rival can never
    find the run already finished, however late the shared CPUs let it try."""

    def __init__(self, refused, rivals: int) -> None:
        super().__init__(1)
        self.refused, self.rivals = refused, rivals

    def submit(self, payload):
        deadline = time.monotonic() + 60
        while self.refused.value < self.rivals and time.monotonic() < deadline:
            time.sleep(0.001)
        return super().submit(payload)


def race(run_dirs: list[str], barrier, refused, results) -> None:
    for run_dir, count in zip(run_dirs, refused, strict=True):
        barrier.wait()
        started = time.monotonic()
        try:
            run_search(run_dir, HeldUntilRivalsRefused(count, barrier.parties - 1))
            results.put((run_dir, os.getpid(), "drove", time.monotonic() - started))
        except UserError as err:
            with count.get_lock():
                count.value += 1
            results.put((run_dir, os.getpid(), str(err), time.monotonic() - started))
