"""Where each job ran is recorded with its done/failed event, folds back, and shows in the summary."""

import os
import socket

import pytest
from search_support import make_spec, recorded_events
from typer.testing import CliRunner

from sonar.cli import app
from sonar.search.engine import run_search, start_search
from sonar.search.executors import make_executor
from sonar.search.placement import current_placement, placement_label
from sonar.search.results import summary
from sonar.search.spec import parse_spec
from sonar.search.storage import Storage

RAW = make_spec(executor={"workers": 1}, budget={"candidates": 3, "max_steps": 30, "max_trials": 3},
                synthetic={"fail": {"c001": "oom"}})


def run(kind: str, run_dir):
    start_search(RAW, run_dir).close()
    executor = make_executor(parse_spec(RAW), kind)
    try:
        return run_search(run_dir, executor)
    finally:
        executor.shutdown()


def finished_events(run_dir) -> list[dict]:
    return [payload for kind, payload, _ in recorded_events(run_dir) if kind in ("job_done", "job_failed")]


@pytest.mark.parametrize("kind", ["inprocess", "pool"])
def test_every_done_or_failed_job_records_the_host_and_process_it_ran_in(kind, tmp_path):
    state = run(kind, tmp_path)
    here = {"host": socket.gethostname(), "pid": os.getpid()}
    places = [payload["placement"] for payload in finished_events(tmp_path)]
    assert len(places) == state.jobs_done() + state.jobs_failed() >= 3 and state.jobs_failed() == 1
    assert {p["host"] for p in places} == {here["host"]}
    assert all(p["pid"] == here["pid"] for p in places) == (kind == "inprocess")
    storage = Storage(tmp_path)
    try:
        folded = storage.state()
    finally:
        storage.close()
    assert [r.placement for r in folded.jobs.values()] == places  # one event per job: same order
    assert sum(summary(folded)["placements"].values()) == len(places)


def test_status_and_report_say_where_the_jobs_ran(tmp_path):
    state = run("inprocess", tmp_path / "run")
    where = f"{socket.gethostname()}:{os.getpid()} ({state.jobs_done() + state.jobs_failed()})"
    status = CliRunner().invoke(app, ["status", str(tmp_path / "run")])
    assert status.exit_code == 0 and f"jobs ran on: {where}" in " ".join(status.output.split())
    assert CliRunner().invoke(app, ["report", str(tmp_path / "run"), "--out", str(tmp_path / "report")]).exit_code == 0
    assert f"jobs ran on: {where}" in (tmp_path / "report" / "index.html").read_text()


def test_the_simulated_executor_records_no_placement_and_such_records_fold_as_before(tmp_path):
    state = run("simulated", tmp_path)
    assert state.jobs_done() and all("placement" not in p for p in finished_events(tmp_path))
    assert all(r.placement is None for r in state.jobs.values()) and summary(state)["placements"] == {}


def test_a_ray_node_is_named_by_its_ip_and_node_id_else_by_host_and_pid():
    assert placement_label({"host": "h", "pid": 7, "ray_node_id": "0123456789abcdef", "ip": "10.0.0.2"}) == \
        "10.0.0.2 node 01234567"
    assert placement_label(current_placement()) == f"{socket.gethostname()}:{os.getpid()}"
