"""The recommendation read off a search state."""

from conftest import make_spec
from sonar.search import results
from sonar.search.records import Decision, Job
from sonar.search.state import state_from_events


def _measured_events(rows: dict[str, tuple[float, float, bool]]) -> list:
    """rows: id -> (val loss, best latency, finished)."""
    raw = make_spec(objective={"kind": "constraint", "latency_s": 0.004})
    events = [("spec", {"spec": raw}, 0.0)]
    for cid, (loss, latency, finished) in rows.items():
        events.append(("decision", Decision(candidate=cid, action="start", rung=0).to_dict(), 0.0))
        for job, points in (
            (Job(candidate=cid, kind="train", rung=0, until=10),
             [dict(step=10, tokens=10, train_loss=loss, val_loss=loss, seconds=1.0)]),
            (Job(candidate=cid, kind="tune", rung=0, until=1),
             [dict(trial=1, seconds=1.0, config={}, latency_s=latency, spread_s=0.0, quality_delta=0.0,
                   best_latency_s=latency, failure=None, extra={})]),
        ):
            events.append(("job_submitted", job.to_dict(), 0.0))
            events.append(("job_done", {"job_id": job.id, "points": points, "cost_s": 1.0}, 0.0))
        if finished:
            events.append(("decision", Decision(candidate=cid, action="finish", rung=0).to_dict(), 0.0))
    return events


def test_best_prefers_a_finished_feasible_candidate_to_a_better_unfinished_one():
    state = state_from_events(_measured_events({"c000": (3.0, 0.003, True), "c001": (2.5, 0.002, False)}))
    assert results.best(state) == "c000"


def test_best_falls_back_to_unfinished_candidates_while_no_finished_one_meets_the_bound():
    rows = {"c000": (2.0, 0.009, True), "c001": (2.5, 0.002, False), "c002": (2.4, 0.005, False)}
    assert results.best(state_from_events(_measured_events(rows))) == "c001"
    assert results.best(state_from_events(_measured_events({"c000": (2.0, 0.009, True)}))) is None
