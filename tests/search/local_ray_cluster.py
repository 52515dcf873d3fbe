"""A Ray cluster of several nodes on this one machine, for tests: `ray start --head` (no CPUs, so no
job runs on it) and one `ray start` worker per custom-resource set, each in its own temp dir and
process group, stopped by those ids (never `ray stop`, which would stop every Ray on the machine)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

STARTED = "Ray runtime started"
# Token authentication (Ray's default for `ray start`) would need a token shared with the driver; this
# cluster listens on a free port of a test machine for the length of one test.
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


class ClusterError(RuntimeError):
    """The cluster did not start: the message says which node and ends with its log; `pids` are the
    `ray start` processes it had started (stopped before this is raised)."""

    def __init__(self, message: str, pids: list[int]) -> None:
        super().__init__(message)
        self.pids = pids


@contextlib.contextmanager
def local_ray_cluster(workers: list[dict[str, float]], *, timeout_s: float = 120.0) -> Iterator[str]:
    """Yield the head's address once every worker (one CPU each, its custom resources) has joined."""
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.is_file():
        raise ClusterError(f"no ray command beside {sys.executable}", [])
    root = Path(tempfile.mkdtemp(prefix="sonar-ray-", dir="/tmp"))  # short: Ray's socket paths must fit
    procs: list[subprocess.Popen] = []
    env = {**os.environ, **ENV}
    deadline = time.monotonic() + timeout_s

    def start(name: str, *args: str) -> None:
        log = root / f"{name}.log"
        with log.open("w") as out:
            procs.append(subprocess.Popen([str(ray_cli), "start", "--block", "--disable-usage-stats", "--num-gpus=0",
                                           *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True))
        # one node at a time: nodes joining together on two cores time out registering
        while STARTED not in log.read_text():
            if procs[-1].poll() is not None or time.monotonic() > deadline:
                _stop(procs)
                raise ClusterError(f"ray node {name} did not start: {log.read_text()[-800:]}",
                                   [p.pid for p in procs])
            time.sleep(0.5)

    try:
        port = _free_port()
        start("head", "--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false", f"--temp-dir={root}")
        address = f"127.0.0.1:{port}"
        for i, resources in enumerate(workers):
            start(f"worker{i}", f"--address={address}", "--num-cpus=1", f"--resources={json.dumps(resources)}")
        yield address
    finally:
        _stop(procs)
        shutil.rmtree(root, ignore_errors=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each `ray start --block` (it stops its node's processes), then SIGKILL what is left of
    each one's process group."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
