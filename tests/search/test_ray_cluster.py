"""A two-target search on a local multi-node Ray cluster: each target's tune jobs run only on the
worker that advertises its resource, as the recorded job placements show."""

import os
from collections import defaultdict

import pytest
from local_ray_cluster import ENV, ClusterError, local_ray_cluster
from search_support import make_spec

from sonar.search.engine import run_search, start_search
from sonar.search.executors import make_executor
from sonar.search.spec import parse_spec

ray = pytest.importorskip("ray")

TARGETS = ("server", "laptop")
RAW = make_spec(targets=[{"name": "server"}, {"name": "laptop", "latency_s": 0.0021, "threads": [1]}],
                objective={"kind": "constraint", "latency_s": 0.004, "across_targets": "each"},
                synthetic={"targets": {"laptop": {"size": "total"}}},
                budget={"candidates": 3, "max_steps": 30, "max_trials": 3}, executor={"kind": "ray", "workers": 2})


@pytest.mark.slow  # three Ray nodes start one after another: about 40 s on two busy cores
def test_each_target_s_tune_jobs_run_only_on_the_worker_advertising_it(tmp_path, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    try:
        with local_ray_cluster([{f"sonar_target_{t}": 1} for t in TARGETS]) as address:
            state, node_resources = search_on(address, tmp_path)
    except ClusterError as err:
        pytest.skip(f"no local Ray cluster: {err}")
    assert state.finished and state.jobs_failed() == 0
    ran_on = defaultdict(set)  # target (or "train") -> the nodes its jobs ran on
    for record in state.jobs.values():
        assert record.status == "done" and record.placement["ip"]
        ran_on[record.job.target if record.job.kind == "tune" else "train"].add(record.placement["ray_node_id"])
    for target in TARGETS:
        advertising = {node for node, resources in node_resources.items() if f"sonar_target_{target}" in resources}
        assert len(advertising) == 1 and ran_on[target] == advertising, target
    assert ran_on["server"] != ran_on["laptop"]


def search_on(address: str, run_dir):
    start_search(RAW, run_dir).close()
    executor = make_executor(parse_spec(RAW), address=address)
    try:
        node_resources = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
        return run_search(run_dir, executor), node_resources
    finally:
        executor.shutdown()
        ray.shutdown()  # the driver leaves before the cluster stops


def test_a_cluster_that_does_not_start_in_time_is_one_error_and_leaves_nothing_running():
    with pytest.raises(ClusterError, match="ray node head did not start") as info:
        with local_ray_cluster([{"sonar_target_a": 1}], timeout_s=0):
            pass
    assert len(info.value.pids) == 1
    for pid in info.value.pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # its whole process group is gone (signal 0 only checks)
