"""One writer per run: the engine lock, a killed holder's lock taken over, and engines racing."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_race import race
from search_support import make_spec

from sonar.errors import UserError
from sonar.search.engine import run_search, start_search
from sonar.search.executors import SimulatedExecutor
from sonar.search.run_lock import EngineLock, engine_holder
from sonar.search.storage import Storage

SRC = str(Path(__file__).parents[2] / "src")
HOLD = ("import sys, time\nfrom sonar.search.run_lock import EngineLock\n"
        "EngineLock.acquire(sys.argv[1])\nprint('held', flush=True)\ntime.sleep(120)\n")


def _kinds(run_dir) -> list[str]:
    storage = Storage(run_dir)
    kinds = [kind for kind, _, _ in storage.events()]
    storage.close()
    return kinds


def test_a_second_lock_fails_at_once_naming_the_holder_and_a_released_lock_is_free(tmp_path):
    with EngineLock.acquire(tmp_path):
        assert engine_holder(tmp_path) == os.getpid()
        started = time.monotonic()
        with pytest.raises(UserError, match=f"another engine \\(pid {os.getpid()}\\) is driving this search"):
            EngineLock.acquire(tmp_path)
        assert time.monotonic() - started < 2
    assert engine_holder(tmp_path) is None
    EngineLock.acquire(tmp_path).release()


def test_a_killed_engines_lock_is_taken_over(tmp_path):
    start_search(make_spec(budget={"candidates": 3}), tmp_path).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": SRC})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert engine_holder(tmp_path) == holder.pid
        with pytest.raises(UserError, match=f"another engine \\(pid {holder.pid}\\)"):
            run_search(tmp_path, SimulatedExecutor(1))
        assert _kinds(tmp_path) == ["spec", "spec_accepted"]  # the refused engine wrote nothing
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / "engine.lock").read_text().split()[0] == str(holder.pid)  # left behind, yet free
    assert engine_holder(tmp_path) is None
    assert run_search(tmp_path, SimulatedExecutor(1)).finished


@pytest.mark.slow  # five interpreters importing torch, then 20 short rounds: ~15 s on a shared machine
def test_five_engines_started_at_once_one_drives(tmp_path):
    engines, rounds = 5, 20
    raw = make_spec(budget={"candidates": 3, "max_steps": 30, "max_trials": 3})
    run_dirs = [str(tmp_path / f"run{i}") for i in range(rounds)]
    for run_dir in run_dirs:
        start_search(raw, run_dir).close()
    # spawn, not forkserver: the forkserver is one per process, and a server an earlier test started
    # need not have this directory on its path; the racers live in a module of their own, since a
    # spawned child that imported this one would resolve `conftest` to whichever is first on its path
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(engines), context.Queue()
    refused = [context.Value("i", 0) for _ in range(rounds)]
    procs = [context.Process(target=race, args=(run_dirs, barrier, refused, results)) for _ in range(engines)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in range(engines * rounds)]
    for proc in procs:
        proc.join(timeout=30)
    for run_dir in run_dirs:
        mine = [o for o in outcomes if o[0] == run_dir]
        drivers = [o for o in mine if o[2] == "drove"]
        assert len(drivers) == 1, mine
        winner = drivers[0][1]
        for _, _, message, elapsed in mine:
            if message != "drove":
                assert message == f"{run_dir}: another engine (pid {winner}) is driving this search"
                assert elapsed < 5.0  # at once (the lock's probe grace is 0.2 s), not after the winner's run
        kinds = _kinds(run_dir)
        assert kinds.count("run_started") == 1 and kinds.count("run_finished") == 1
        submitted = [k for k in kinds if k == "job_submitted"]
        assert len(submitted) == kinds.count("job_done") + kinds.count("job_failed")  # no job ran twice
