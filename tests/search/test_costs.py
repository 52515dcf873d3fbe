import math

from sonar.search.records import Job
from sonar.search.schedulers.costs import trial_cost_in_steps
from sonar.search.state import JobRecord


class _State:
    def __init__(self, records):
        self.jobs = {r.job.id: r for r in records}


def _done(candidate, kind, rung, start, until, cost, status="done"):
    return JobRecord(job=Job(candidate=candidate, kind=kind, rung=rung, until=until, start=start), status=status,
                     cost_s=cost)


def test_unpriced_until_one_candidate_has_run_both_kinds_of_job():
    assert trial_cost_in_steps(_State([])) is None
    assert trial_cost_in_steps(_State([_done("c0", "train", 0, 0, 10, 1.0), _done("c1", "tune", 0, 0, 2, 1.0)])) is None


def test_the_ratio_is_per_candidate_then_the_median_so_one_outlier_cannot_swing_it():
    records = [
        _done("c0", "train", 0, 0, 10, 1.0), _done("c0", "tune", 0, 0, 2, 1.0),  # 0.5 s/trial / 0.1 s/step = 5
        _done("c0", "train", 1, 10, 30, 2.0),  # more steps at the same price: still 0.1 s/step
        _done("c1", "train", 0, 0, 10, 10.0), _done("c1", "tune", 0, 0, 1, 20.0),  # 20 / 1 = 20
        _done("c2", "train", 0, 0, 10, 1.0), _done("c2", "tune", 0, 0, 1, 100.0),  # 1000
        _done("c3", "train", 0, 0, 10, 5.0, status="submitted"), _done("c3", "tune", 0, 0, 1, 0.0),
    ]
    assert math.isclose(trial_cost_in_steps(_State(records)), 20.0)
