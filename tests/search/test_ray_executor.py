"""The Ray executor against a local Ray instance that the test starts (and stops)."""

import os
from pathlib import Path

import pytest
from search_support import make_spec

from sonar.search.engine import run_search, start_search
from sonar.search.executors import make_executor
from sonar.search.spec import parse_spec

ray = pytest.importorskip("ray")
SRC = str(Path(__file__).parents[2] / "src")


@pytest.mark.slow  # starting Ray on two cores takes about 15 s
def test_ray_executor_runs_a_search_with_tuning_pinned_to_the_target(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))  # for the workers
    raw = make_spec(executor={"kind": "ray", "workers": 2}, budget={"candidates": 4, "max_steps": 90, "max_trials": 9},
                    targets=[{"name": "cpu", "resources": {"sonar_target_cpu": 1}}],
                    synthetic={"fail": {"c002": "exit"}})
    spec = parse_spec(raw)
    start_search(raw, tmp_path).close()
    executor = make_executor(spec)
    try:
        assert ray.cluster_resources().get("sonar_target_cpu") == 1
        state = run_search(tmp_path, executor)
    finally:
        executor.shutdown()
    assert state.finished and any(c.status == "finished" for c in state.candidates.values())
    dead = [r for r in state.jobs.values() if r.status == "failed"]
    assert [r.job.candidate for r in dead] == ["c002"] and "worker died" in dead[0].failure
    assert state.jobs_done() >= 8
