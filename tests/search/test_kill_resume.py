"""kill -9 a running `sonar search`, then `sonar search --resume`: nothing completed is redone and the
search ends with the decisions of an uninterrupted run (one in-process worker: a deterministic order)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from search_support import make_spec

from sonar.search.engine import run_search, start_search
from sonar.search.executors import InProcessExecutor
from sonar.search.replay import replay
from sonar.search.run_lock import engine_holder
from sonar.search.storage import Storage

SRC = str(Path(__file__).parents[2] / "src")


def _done_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'job_done'").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not there yet
        return 0


def _sonar(*args: str) -> list[str]:
    return [sys.executable, "-m", "sonar", *args]


@pytest.mark.slow  # two interpreter starts and a real-time search: about 10-15 s
def test_kill_9_then_resume(tmp_path):
    raw = make_spec(executor={"kind": "inprocess", "workers": 1},
                    budget={"candidates": 9, "max_steps": 90, "max_trials": 9},
                    synthetic={"sleep_s": 0.06, "eval_every": 10})
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(_sonar("search", str(config), "--out", str(tmp_path / "run"), "--no-live"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while _done_count(tmp_path / "run" / "search.db") < 8:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "the search made no progress"
        time.sleep(0.05)
    time.sleep(0.03)  # land somewhere inside a job
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    storage = Storage(tmp_path / "run")
    before = storage.state()
    storage.close()
    assert engine_holder(tmp_path / "run") is None  # the dead engine's lock went with it
    done_before = {j for j, r in before.jobs.items() if r.status == "done"}
    assert not before.finished and len(done_before) >= 8

    resumed = subprocess.run(_sonar("search", "--resume", str(tmp_path / "run"), "--no-live"),
                             env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "winner" in resumed.stdout

    fast = {**raw, "synthetic": {**raw["synthetic"], "sleep_s": 0}}  # sleeping changes no decision
    start_search(fast, tmp_path / "reference").close()
    reference = run_search(tmp_path / "reference", InProcessExecutor())
    storage = Storage(tmp_path / "run")
    after, events = storage.state(), storage.events()
    storage.close()
    assert after.finished
    assert after.decisions == reference.decisions
    submitted = [f"{p['candidate']}/r{p['rung']}/{p['kind']}" for k, p, _ in events if k == "job_submitted"]
    assert all(submitted.count(j) == 1 for j in done_before), "a completed job was run again"
    assert replay(events) == []
    assert {j: r.status for j, r in after.jobs.items()} == {j: r.status for j, r in reference.jobs.items()}
    for job_id, record in reference.jobs.items():  # same curves: interrupted jobs resumed to the same results
        cand = record.job.candidate
        assert after.candidates[cand].curve == reference.candidates[cand].curve, job_id
