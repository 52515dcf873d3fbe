"""The recommendation read off a search state."""

from search_support import make_spec

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


def _curved_events(rows: dict[str, tuple[list[tuple[int, float]], float, str]]) -> list:
    """rows: id -> ((step, val loss) pairs, best latency, status: finished | active | stopped)."""
    raw = make_spec(objective={"kind": "constraint", "latency_s": 0.004})  # max_steps 270, eta 3: deep = 90
    events = [("spec", {"spec": raw}, 0.0)]
    for cid, (curve, latency, status) in rows.items():
        events.append(("decision", Decision(candidate=cid, action="start", rung=0).to_dict(), 0.0))
        points = [dict(step=s, tokens=s, train_loss=v, val_loss=v, seconds=1.0) for s, v in curve]
        tuning = [dict(trial=1, seconds=1.0, config={}, latency_s=latency, spread_s=0.0, quality_delta=0.0,
                       best_latency_s=latency, failure=None, extra={})]
        for job, done in ((Job(candidate=cid, kind="train", rung=0, until=curve[-1][0]), points),
                          (Job(candidate=cid, kind="tune", rung=0, until=1), tuning)):
            events.append(("job_submitted", job.to_dict(), 0.0))
            events.append(("job_done", {"job_id": job.id, "points": done, "cost_s": 1.0}, 0.0))
        if status != "active":
            action = "finish" if status == "finished" else "stop"
            events.append(("decision", Decision(candidate=cid, action=action, rung=0).to_dict(), 0.0))
    return events


def test_a_running_candidate_past_the_last_rungs_start_that_is_better_at_a_shared_checkpoint_takes_over():
    finished = ([(30, 3.6), (90, 3.3), (270, 3.0)], 0.003, "finished")
    better_at_90 = ([(30, 3.4), (90, 3.1)], 0.002, "active")
    assert results.best(state_from_events(_curved_events({"c000": finished, "c001": better_at_90}))) == "c001"
    # not once it is stopped, nor while it is trained less than a third of the way, nor if too slow
    for other in (([(30, 3.4), (90, 3.1)], 0.002, "stopped"), ([(30, 3.4)], 0.002, "active"),
                  ([(30, 3.4), (90, 3.1)], 0.009, "active")):
        assert results.best(state_from_events(_curved_events({"c000": finished, "c001": other}))) == "c000"


def test_a_running_candidate_behind_the_leader_does_not_hand_the_pick_to_another_finished_one():
    # c001 leads c000 at step 90 only; c002 joins at 90 behind c000: c000, best at 270, keeps the pick
    best_at_end = ([(30, 3.6), (90, 3.4), (270, 3.0)], 0.003, "finished")
    best_at_90 = ([(30, 3.5), (90, 3.2), (270, 3.1)], 0.003, "finished")
    newcomer = ([(30, 3.6), (90, 3.45)], 0.002, "active")
    state = state_from_events(_curved_events({"c000": best_at_end, "c001": best_at_90, "c002": newcomer}))
    assert results.best(state) == "c000"
