"""The executor contract: any executor running the same search with one worker ends with the same
decisions and the same results (only time stamps differ)."""

import concurrent.futures as cf

import pytest
from search_support import make_spec

from sonar.search.engine import run_search, start_search
from sonar.search.executors import make_executor
from sonar.search.records import Job
from sonar.search.runner import JobPayload
from sonar.search.spec import parse_spec

RAW = make_spec(executor={"workers": 1}, budget={"candidates": 6, "max_steps": 90, "max_trials": 9})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    start_search(RAW, run_dir).close()
    return run_search(run_dir, make_executor(parse_spec(RAW), "inprocess"))


@pytest.mark.parametrize("kind", ["simulated", "pool"])
def test_executors_agree_with_in_process(kind, reference, tmp_path):
    start_search(RAW, tmp_path).close()
    executor = make_executor(parse_spec(RAW), kind)
    try:
        state = run_search(tmp_path, executor)
    finally:
        executor.shutdown()
    assert state.decisions == reference.decisions
    assert {c.id: (c.curve, c.tuning) for c in state.candidates.values()} == \
           {c.id: (c.curve, c.tuning) for c in reference.candidates.values()}
    assert state.spent_s == pytest.approx(reference.spent_s)


def test_simulated_clock_runs_workers_in_parallel(tmp_path):
    spec = parse_spec(RAW)
    executor = make_executor(spec, "simulated", workers=2)
    model = spec.arch.base_config().to_dict()
    futures = [executor.submit(JobPayload(job=Job(candidate=f"c00{i}", kind="tune", rung=0, until=2), model=model,
                                          seed=i, workdir=str(tmp_path / f"c{i}"), spec_raw=RAW, backend="synthetic"))
               for i in range(3)]
    finish_times = []
    pending = list(futures)
    while pending:
        for future in executor.wait(pending):
            pending.remove(future)
            finish_times.append(executor.now())
    costs = [f.result().cost_s for f in futures]
    assert all(isinstance(f, cf.Future) and f.result().ok for f in futures)
    # two run at once from t=0; the third waits for the first free worker
    assert finish_times[0] == pytest.approx(min(costs[:2]) + 0.05)
    assert finish_times[-1] == pytest.approx(max(max(costs[:2]), min(costs[:2]) + 0.05 + costs[2]) + 0.05)
