import math
import subprocess
import sys

import pytest

from conftest import make_spec, run_simulated
from sonar.errors import UserError
from sonar.search.engine import run_search
from sonar.search.executors import SimulatedExecutor
from sonar.search.storage import Storage


def test_state_rebuilt_from_events_equals_the_live_state(tmp_path):
    live, _ = run_simulated(make_spec(), tmp_path)
    storage = Storage(tmp_path)
    rebuilt = storage.state()
    storage.close()
    assert rebuilt.decisions == live.decisions
    assert rebuilt.spent_s == live.spent_s
    assert {c.id: (c.status, c.rung, c.curve, c.tuning) for c in rebuilt.candidates.values()} == \
           {c.id: (c.status, c.rung, c.curve, c.tuning) for c in live.candidates.values()}
    assert {j: r.status for j, r in rebuilt.jobs.items()} == {j: r.status for j, r in live.jobs.items()}
    assert rebuilt.finished


def test_non_finite_floats_survive_storage(tmp_path):
    storage = Storage.create(tmp_path, make_spec())
    storage.append("run_started", {"x": math.inf, "y": [-math.inf, math.nan, 1.5]})
    _, payload, _ = storage.events()[1]
    storage.close()
    assert payload["x"] == math.inf and payload["y"][0] == -math.inf and math.isnan(payload["y"][1])


def test_create_refuses_an_existing_search_and_open_refuses_a_missing_one(tmp_path):
    Storage.create(tmp_path / "run", make_spec()).close()
    with pytest.raises(UserError, match="--resume"):
        Storage.create(tmp_path / "run", make_spec())
    with pytest.raises(UserError, match="not a search directory"):
        Storage(tmp_path / "nothing")


def test_live_engine_detection(tmp_path):
    storage = Storage.create(tmp_path, make_spec())
    assert storage.live_engine() is None
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        storage.db.execute("INSERT OR REPLACE INTO heartbeat VALUES (0, ?, ?, ?)",
                           (other.pid, __import__("os").uname().nodename, __import__("time").time()))
        assert storage.live_engine()[0] == other.pid
        with pytest.raises(UserError, match="another engine"):
            run_search(tmp_path, SimulatedExecutor(1))
    finally:
        other.kill()
        other.wait()
    assert storage.live_engine() is None  # its process is gone: a stale row, not a live engine
    storage.close()
