"""One contract suite for every scheduler, on the simulated executor with synthetic curves."""

import pytest
from search_support import make_spec, recorded_events, run_simulated

from sonar.search.records import Decision, Job
from sonar.search.replay import replay
from sonar.search.schedulers import SCHEDULERS, make_scheduler
from sonar.search.spec import parse_spec
from sonar.search.state import ACTIVE, SearchState, state_from_events

OBJECTIVES = {
    "constraint": {"kind": "constraint", "latency_s": 0.004},
    "pareto": {"kind": "pareto"},
    "scalarized": {"kind": "scalarized", "weights": {"loss": 1.0, "latency_s": 200.0}},
}
SMALL = {"max_steps": 270, "min_steps": 10, "max_trials": 27, "min_trials": 1, "candidates": 12}


def check_decisions_valid(events, *, respects_cost: bool) -> None:
    """Fold the record event by event and check each decision against the state it was made in."""
    state = state_from_events(events[:1])
    budget = state.spec.budget
    for kind, payload, stamp in events[1:]:
        if kind == "decision":
            d = Decision(**payload)
            if d.action == "start":
                assert d.candidate not in state.candidates
                assert len(state.candidates) < budget.candidates
            else:
                cand = state.candidates[d.candidate]
                assert cand.status == ACTIVE, f"{d} on a {cand.status} candidate"
                assert d.candidate not in state.busy_candidates(), f"{d} while its jobs run"
                assert state.rung_complete(cand)
                if d.action == "promote":
                    assert d.rung == cand.rung + 1
            if d.action == "release":  # a held rung's training goes ahead: the rung stays
                assert d.rung == cand.rung
            if d.action in ("start", "promote", "release") and respects_cost:
                assert state.spent_s < budget.cost_s, f"{d} after the cost budget was spent"
        if kind == "job_submitted":
            job = Job(**payload)
            assert job.until <= (budget.max_steps if job.kind == "train" else budget.max_trials)
        state.apply(kind, payload, stamp)
    assert state.finished
    assert all(c.status != ACTIVE for c in state.candidates.values()), "a candidate was left undecided"


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_contract(name, objective, tmp_path):
    raw = make_spec(scheduler=name, objective=OBJECTIVES[objective], budget=SMALL)
    state, _ = run_simulated(raw, tmp_path / "a")
    events = recorded_events(tmp_path / "a")
    check_decisions_valid(events, respects_cost=SCHEDULERS[name].respects_cost_budget)
    assert replay(events) == []
    assert any(c.status == "finished" for c in state.candidates.values())
    again, _ = run_simulated(raw, tmp_path / "b")
    assert again.decisions == state.decisions  # deterministic per seed
    other, _ = run_simulated({**raw, "seed": 1}, tmp_path / "c")
    assert [c.model for c in other.candidates.values()] != [c.model for c in state.candidates.values()]


@pytest.mark.parametrize("name", ["sonar", "random", "asha", "sequential"])
def test_cost_budget_stops_new_work(name, tmp_path):
    """The budget counts completed jobs: work in flight when it runs out may overshoot it, nothing new starts."""
    raw = make_spec(scheduler=name, budget={**SMALL, "cost_s": 2.0})
    state, _ = run_simulated(raw, tmp_path / "run")
    check_decisions_valid(recorded_events(tmp_path / "run"), respects_cost=True)
    full, _ = run_simulated(make_spec(scheduler=name, budget=SMALL), tmp_path / "full")
    assert state.spent_s < full.spent_s


def test_sonar_spends_less_than_brute_force(tmp_path):
    sonar, sonar_clock = run_simulated(make_spec(scheduler="sonar"), tmp_path / "s")
    brute, brute_clock = run_simulated(make_spec(scheduler="brute"), tmp_path / "b")
    assert sonar.spent_s < brute.spent_s / 3
    assert sonar_clock.now() < brute_clock.now()


def test_sonar_grows_both_budgets_per_rung(tmp_path):
    state, _ = run_simulated(make_spec(scheduler="sonar"), tmp_path / "run")
    ladder = make_scheduler(state.spec).ladder
    assert ladder[0] == (10, 1) and ladder[-1] == (270, 27)
    for record in state.jobs.values():
        steps, trials = ladder[record.job.rung]
        assert record.job.until == (steps if record.job.kind == "train" else trials)


def test_sequential_tunes_only_after_training(tmp_path):
    state, _ = run_simulated(make_spec(scheduler="sequential"), tmp_path / "run")
    tuned = {r.job.candidate for r in state.jobs.values() if r.job.kind == "tune"}
    finished = {c.id for c in state.candidates.values() if c.status == "finished"}
    assert tuned == finished
    assert all(state.candidates[c].steps_done() == state.spec.budget.max_steps for c in tuned)


def test_asha_tunes_fully_from_rung_zero(tmp_path):
    state, _ = run_simulated(make_spec(scheduler="asha"), tmp_path / "run")
    tunes = [r.job for r in state.jobs.values() if r.job.kind == "tune"]
    assert tunes and all(job.rung == 0 and job.until == 27 for job in tunes)


# --- a hand-made record: three candidates at rung 0, then a newcomer that dominates them -------------
def _rung0_events(raw: dict, results: dict[str, tuple[float, float]]) -> list:
    events = [("spec", {"spec": raw}, 0.0)]
    for cid, (loss, latency) in results.items():
        events.append(("decision", Decision(candidate=cid, action="start", rung=0).to_dict(), 0.0))
        for kind, until in (("train", 10), ("tune", 1)):
            job = Job(candidate=cid, kind=kind, rung=0, until=until)
            events.append(("job_submitted", job.to_dict(), 0.0))
        curve = [dict(step=10, tokens=10, train_loss=loss, val_loss=loss, seconds=1.0)]
        tuning = [dict(trial=1, seconds=1.0, config={}, latency_s=latency, spread_s=0.0, quality_delta=0.0,
                       best_latency_s=latency, failure=None, extra={})]
        events.append(("job_done", {"job_id": f"{cid}/r0/train", "points": curve, "cost_s": 1.0}, 0.0))
        events.append(("job_done", {"job_id": f"{cid}/r0/tune", "points": tuning, "cost_s": 1.0}, 0.0))
    return events


def test_dominating_newcomer_is_promoted_in_pareto_mode():
    raw = make_spec(objective={"kind": "pareto"}, budget={**SMALL, "candidates": 4}, executor={"workers": 1})
    results = {"c000": (3.0, 0.003), "c001": (3.2, 0.002), "c002": (3.4, 0.001)}
    before: SearchState = state_from_events(_rung0_events(raw, results))
    scheduler = make_scheduler(parse_spec(raw))
    # three mutually non-dominated points: floor(3/3) = 1 promotion, the lowest loss first
    assert [(d.candidate, d.action) for d in scheduler.decide(before)] == [("c000", "promote")]
    state = state_from_events(_rung0_events(raw, {**results, "c003": (2.5, 0.0005)}))
    decisions = scheduler.decide(state)
    assert Decision(candidate="c003", action="promote", rung=1, reason="top 1/3 of rung 0") in decisions
    assert not any(d.action == "promote" and d.candidate != "c003" for d in decisions)


# The tuning rules these tests check are switchable and off in SONAR's policy (policy.py): on here.
TUNING_RULES = {"feasible_stops_tuning": True, "catch_up_by_rung": True, "eliminate": True}


def _constraint_run(tmp_path, trial_cost_s: float, latency_s: float = 0.004):
    raw = make_spec(scheduler="sonar", objective={"kind": "constraint", "latency_s": latency_s},
                    synthetic={"noise": 0.01, "eval_every": 10, "trial_cost_s": trial_cost_s}, rules=TUNING_RULES)
    run_dir = tmp_path / "run"
    state, _ = run_simulated(raw, run_dir)
    return state, recorded_events(run_dir)


def test_sonar_in_constraint_mode_tunes_until_feasible_and_no_further(tmp_path):
    state, _ = _constraint_run(tmp_path, trial_cost_s=0.5)
    limit = state.spec.objective.latency_s
    tunes = [r.job for r in state.jobs.values() if r.job.kind == "tune"]
    assert tunes
    for job in tunes:  # no tuning job starts once a measured configuration met the bound
        before = [p for p in state.candidates[job.candidate].tuning[: job.start] if p.failure is None]
        assert not any(p.best_latency_s <= limit for p in before)
    assert any(c.status == "finished" and c.best_latency() <= limit for c in state.candidates.values())


def _tuned_while_at_rung(events) -> list[tuple[str, int, Job]]:
    """(candidate, the rung it stood at, the tuning job) for every tuning job, in submission order."""
    state = state_from_events(events[:1])
    tuned = []
    for kind, payload, stamp in events[1:]:
        if kind == "job_submitted" and payload["kind"] == "tune":
            job = Job(**payload)
            tuned.append((job.candidate, state.candidates[job.candidate].rung, job))
        state.apply(kind, payload, stamp)
    return tuned


def test_sonar_screens_rung_zero_on_loss_alone_once_trials_are_priced_dearer_than_steps(tmp_path):
    state, events = _constraint_run(tmp_path, trial_cost_s=100.0)
    workers = state.spec.executor.workers
    tuned = _tuned_while_at_rung(events)
    rung0_tuned = {cid for cid, rung, _ in tuned if rung == 0}
    # only the first wave, started before any job was priced, tunes at rung 0
    assert len(rung0_tuned) <= workers < len(state.candidates)
    later = [job for _, rung, job in tuned if rung >= 1]
    assert later
    # deferred tuning is caught up one ladder budget at a time, so it can stop once the bound is met
    ladder_trials = {t for _, t in make_scheduler(state.spec).ladder}
    assert all(job.until in ladder_trials for job in later)
    assert any(job.start == 0 and job.until < state.spec.budget.max_trials for job in later)


def test_sonar_tunes_every_first_rung_and_gates_training_on_latency_when_trials_are_cheap(tmp_path):
    state, events = _constraint_run(tmp_path, trial_cost_s=0.0, latency_s=0.001)
    rung0_tuned = {cid for cid, rung, _ in _tuned_while_at_rung(events) if rung == 0}
    assert rung0_tuned == set(state.candidates)
    submitted, done = {}, {}
    for kind, payload, _ in events:
        if kind == "job_submitted":
            submitted.setdefault(Job(**payload).id, len(submitted) + len(done))
        elif kind == "job_done":
            done[payload["job_id"]] = len(submitted) + len(done)
    gated = 0
    for record in state.jobs.values():
        job = record.job
        if job.kind != "tune" or job.rung == 0:
            continue
        train_id = Job(candidate=job.candidate, kind="train", rung=job.rung, until=1).id
        if train_id in submitted:  # the rung's steps were asked for only after its trials came back
            assert submitted[train_id] > done[job.id]
            gated += 1
    stopped_untrained = [c for c in state.candidates.values() if c.status == "stopped" and c.rung >= 1
                         and Job(candidate=c.id, kind="train", rung=c.rung, until=1).id not in submitted]
    assert gated and stopped_untrained


def _tuned_events(raw: dict, asked: int, latencies: list[float]) -> list:
    events = [("spec", {"spec": raw}, 0.0),
              ("decision", Decision(candidate="c000", action="start", rung=0).to_dict(), 0.0)]
    job = Job(candidate="c000", kind="tune", rung=0, until=asked)
    events.append(("job_submitted", job.to_dict(), 0.0))
    tuning = [dict(trial=i + 1, seconds=float(i + 1), config={}, latency_s=v, spread_s=0.0, quality_delta=0.0,
                   best_latency_s=min(latencies[: i + 1]), failure=None, extra={}) for i, v in enumerate(latencies)]
    events.append(("job_done", {"job_id": job.id, "points": tuning, "cost_s": 2.0}, 0.0))
    return events


def test_a_tuner_that_returns_fewer_trials_than_asked_has_a_final_latency():
    raw = make_spec(scheduler="sonar", objective={"kind": "constraint", "latency_s": 0.004}, budget=SMALL)
    scheduler = make_scheduler(parse_spec(raw))
    stopped = state_from_events(_tuned_events(raw, asked=5, latencies=[0.01, 0.006]))
    running = state_from_events(_tuned_events(raw, asked=2, latencies=[0.01, 0.006]))
    assert stopped.candidates["c000"].tuning_complete and not running.candidates["c000"].tuning_complete
    scheduler.population = scheduler.fit_population(stopped)
    final = scheduler.point(stopped.candidates["c000"]).latency
    assert (final.low, final.mid, final.high) == (0.006, 0.006, 0.006)  # measured: cannot improve
    assert scheduler.point(running.candidates["c000"]).latency.low < 0.004  # may still meet the bound
    assert scheduler.tune_job(stopped.candidates["c000"]) is None
    # and it counts as "no further improvement" in the population's rung-to-rung latency ratios
    _, latency_ratios = scheduler.fit_population(stopped)
    assert latency_ratios.budgets == (1, 3, 9, 27) and latency_ratios.ratios == (0.6, 1.0, 1.0, 1.0)
    assert scheduler.fit_population(running)[1].ratios == (None, None, None, None)


def test_with_compiled_configs_in_the_space_latency_rules_nothing_out_before_a_sweep_has_been_seen_to_its_end():
    base = dict(scheduler="sonar", objective={"kind": "constraint", "latency_s": 0.004}, budget=SMALL)
    eager = make_scheduler(parse_spec(make_spec(**base)))
    compiling = make_scheduler(parse_spec(make_spec(**base, system={"compiles": ["eager", "default"]})))
    assert not eager.late_gains and compiling.late_gains
    # c000 measured 3 trials so far, all far above the bound
    alone = state_from_events(_tuned_events(make_spec(**base), asked=3, latencies=[0.0100, 0.0095, 0.0093]))
    for scheduler in (eager, compiling):
        scheduler.population = scheduler.fit_population(alone)
    assert eager.point(alone.candidates["c000"]).latency.low > 0.004  # its own curve rules it out
    assert compiling.point(alone.candidates["c000"]).latency.low == 0.0  # nobody has shown what the end brings


def _laddered_events(raw: dict, rows: dict[str, tuple[int, list[float], float, bool]]) -> list:
    """rows: id -> (rung, val loss at each ladder step up to it, latency of every trial, finished)."""
    ladder = make_scheduler(parse_spec(raw)).ladder
    events = [("spec", {"spec": raw}, 0.0)]
    for cid, (rung, losses, latency, finished) in rows.items():
        events.append(("decision", Decision(candidate=cid, action="start", rung=0).to_dict(), 0.0))
        for r in range(1, rung + 1):
            events.append(("decision", Decision(candidate=cid, action="promote", rung=r).to_dict(), 0.0))
        steps, trials = ladder[rung]
        curve = [dict(step=s, tokens=s, train_loss=v, val_loss=v, seconds=1.0)
                 for (s, _), v in zip(ladder, losses, strict=False)]
        tuning = [dict(trial=i + 1, seconds=1.0, config={}, latency_s=latency, spread_s=0.0, quality_delta=0.0,
                       best_latency_s=latency, failure=None, extra={}) for i in range(trials)]
        for job, points in ((Job(candidate=cid, kind="train", rung=rung, until=steps), curve),
                            (Job(candidate=cid, kind="tune", rung=rung, until=trials), tuning)):
            events.append(("job_submitted", job.to_dict(), 0.0))
            events.append(("job_done", {"job_id": job.id, "points": points, "cost_s": 1.0}, 0.0))
        if finished:
            events.append(("decision", Decision(candidate=cid, action="finish", rung=rung).to_dict(), 0.0))
    return events


def test_sonar_promotes_a_waiting_candidate_that_may_still_beat_the_best_finished_one():
    raw = make_spec(scheduler="sonar", objective={"kind": "constraint", "latency_s": 0.004},
                    budget={**SMALL, "candidates": 4})
    state = state_from_events(_laddered_events(raw, {
        "c000": (3, [4.0, 3.3, 3.2, 3.0], 0.003, True),  # the incumbent
        "c001": (1, [4.0, 3.45], 0.003, False),  # improving as c003 did, it would reach 2.59
        "c002": (1, [4.6, 4.5], 0.003, False),  # even so, 3.37: worse than c000
        "c003": (3, [4.0, 3.6, 3.0, 2.7], 0.009, True),  # too slow, but shows how far a curve can fall
    }))
    scheduler = make_scheduler(state.spec)
    assert scheduler.rung_ranking(state, 1)[0] == "c000"  # ASHA's top third of rung 1 is taken
    decisions = scheduler.decide(state)
    assert [(d.candidate, d.action, d.reason) for d in decisions if d.action == "promote"] == [
        ("c001", "promote", "may beat the best finished")]
    assert not any(d.candidate == "c002" and d.action == "promote" for d in decisions)


def _screening_run(tmp_path, screen: bool):
    raw = make_spec(scheduler="sonar", objective={"kind": "constraint", "latency_s": 0.0015},
                    synthetic={"noise": 0.01, "eval_every": 10, "trial_cost_s": 0.01},
                    rules={"screen_feasibility": screen, "defer_far_probes": False,
                           "learned_starts": False})  # the rule alone
    run_dir = tmp_path / ("screen" if screen else "plain")
    state, _ = run_simulated(raw, run_dir)
    return state, recorded_events(run_dir)


def test_screening_tunes_a_promoted_candidate_before_its_steps_and_stops_one_whose_sweep_misses(tmp_path):
    state, events = _screening_run(tmp_path, screen=True)
    limit = state.spec.objective.latency_s
    order = {}
    for kind, payload, _ in events:
        if kind == "job_submitted":
            order.setdefault(Job(**payload).id, len(order))
    # a tuning job submitted while the candidate stood at rung k >= 1 came before that rung's steps
    screened = [(cid, rung, job) for cid, rung, job in _tuned_while_at_rung(events) if rung >= 1]
    ladder = make_scheduler(state.spec).ladder
    assert any(job.until > ladder[rung][1] for _, rung, job in screened)  # tuned past the rung's own trials
    for cid, rung, job in screened:
        train = Job(candidate=cid, kind="train", rung=rung, until=1).id
        assert train not in order or order[train] > order[job.id]
    swept_out = [d for d in state.decisions if d.action == "stop" and d.reason.startswith("no configuration meets")]
    assert swept_out
    for d in swept_out:  # stopped only with its whole sweep measured and none within the bound
        c = state.candidates[d.candidate]
        assert c.trials_done() >= state.spec.budget.max_trials or c.tuning_complete
        assert c.best_latency() > limit
    plain, plain_events = _screening_run(tmp_path, screen=False)
    assert not [d for d in plain.decisions if d.reason.startswith("no configuration meets")]
    assert all(job.until <= ladder[rung][1] for _, rung, job in _tuned_while_at_rung(plain_events))


def _endgame_run(tmp_path, to_end: bool):
    raw = make_spec(scheduler="sonar", budget={**SMALL, "cost_s": 1e9, "candidates": 18},
                    rules={"explore_to_end": to_end})
    run_dir = tmp_path / ("to_end" if to_end else "one_rung")
    state, _ = run_simulated(raw, run_dir)
    return state


def test_a_candidate_drawn_in_the_endgame_goes_on_to_the_last_rung(tmp_path):
    from sonar.search.schedulers.policy import CARRIED_REASON, DRAWN_REASON

    state = _endgame_run(tmp_path, to_end=True)
    last = len(make_scheduler(state.spec).ladder) - 1
    drawn = [d for d in state.decisions if d.reason == DRAWN_REASON]
    assert drawn
    for d in drawn:  # every draw is carried on, rung by rung, until it ends at the last rung or is stopped
        after = [e for e in state.decisions if e.candidate == d.candidate and e.rung > d.rung]
        assert all(e.reason == CARRIED_REASON for e in after if e.action == "promote")
        c = state.candidates[d.candidate]
        assert c.status != "finished" or c.rung == last
    assert any(e.reason == CARRIED_REASON for e in state.decisions)
    plain = _endgame_run(tmp_path, to_end=False)
    assert not any(e.reason == CARRIED_REASON for e in plain.decisions)


def _final_losses_run(tmp_path, on: bool):
    raw = make_spec(scheduler="sonar", objective={"kind": "constraint", "latency_s": 0.004},
                    synthetic={"noise": 0.01, "eval_every": 10, "trial_cost_s": 10000.0},
                    rules={"final_losses_first": on})  # trials so dear that every candidate trains cheaply
    run_dir = tmp_path / ("final_losses" if on else "rungs")
    state, _ = run_simulated(raw, run_dir)
    return state, recorded_events(run_dir)


def test_where_trials_are_dear_candidates_train_to_the_end_and_are_tuned_in_order_of_final_loss(tmp_path):
    state, events = _final_losses_run(tmp_path, on=True)
    budget, workers = state.spec.budget, state.spec.executor.workers
    last = len(make_scheduler(state.spec).ladder) - 1
    limit = state.spec.objective.latency_s
    assert any(d.reason.startswith("its training to the end costs less") for d in state.decisions)
    # every last-rung sweep starts on a trained-out candidate and, unless it already meets the bound, with
    # fewer than `workers` trained-out candidates of lower final loss still open (not within it, nor swept)
    folded = state_from_events(events[:1])
    last_rung_tunes = 0
    for kind, payload, stamp in events[1:]:
        if kind == "job_submitted" and payload["kind"] == "tune" and payload["rung"] == last:
            c = folded.candidates[payload["candidate"]]
            assert c.steps_done() >= budget.max_steps
            ahead = [o for o in folded.candidates.values()
                     if o.id != c.id and o.status == ACTIVE and o.rung == last and o.steps_done() >= budget.max_steps
                     and o.best_latency() > limit and not o.tuning_complete and o.trials_done() < budget.max_trials
                     and o.val_loss() < c.val_loss()]
            assert c.best_latency() <= limit or len(ahead) < workers
            last_rung_tunes += 1
        folded.apply(kind, payload, stamp)
    assert last_rung_tunes
    outranked = [d for d in state.decisions if d.reason.startswith("a finalist with a lower final loss")]
    assert outranked
    for d in outranked:  # stopped only for a measured, feasible, trained-out finalist with a lower loss
        c = state.candidates[d.candidate]
        assert any(o.rung == last and o.steps_done() >= budget.max_steps and o.best_latency() <= limit
                   and o.val_loss() < c.val_loss() for o in state.candidates.values())
    plain, _ = _final_losses_run(tmp_path, on=False)
    assert not any(d.reason.startswith(("its training to the end", "a finalist with")) for d in plain.decisions)
    # the pick is the lowest final loss within the bound among the finalists either way
    winner = min((c for c in state.candidates.values() if c.status == "finished" and c.best_latency() <= limit),
                 key=lambda c: c.val_loss())
    assert winner.val_loss() <= min(c.val_loss() for c in state.candidates.values()
                                    if c.steps_done() >= budget.max_steps and c.best_latency() <= limit)


@pytest.mark.parametrize("cost_s", [60000.0, 300000.0])
def test_final_losses_first_leaves_no_candidate_undecided_when_the_cost_budget_runs_out(tmp_path, cost_s):
    # held sweeps must not outlive the budget: a run that stops starting candidates still ends each one
    raw = make_spec(scheduler="sonar", objective={"kind": "constraint", "latency_s": 0.004},
                    synthetic={"noise": 0.01, "eval_every": 10, "trial_cost_s": 10000.0},
                    budget={**SMALL, "cost_s": cost_s}, rules={"final_losses_first": True})
    state, _ = run_simulated(raw, tmp_path / "run")
    assert state.spent_s >= cost_s
    assert any(d.reason.startswith("its training to the end costs less") for d in state.decisions)
    check_decisions_valid(recorded_events(tmp_path / "run"), respects_cost=True)


def _probe_run(tmp_path, on: bool, trial_cost_s: float = 0.01, cost_s: float | None = None, *,
               rule: str = "fastest_first", candidates: int | None = None):
    """A run with one probing rule switched `on` or off and the other off, so each is seen alone."""
    budget = {} if cost_s is None else {"cost_s": cost_s}  # merged into the base spec's budget
    if candidates is not None:
        budget["candidates"] = candidates
    rules = {"fastest_first": False, "defer_far_probes": False, rule: on}
    raw = make_spec(scheduler="sonar", objective={"kind": "constraint", "latency_s": 0.0015},
                    synthetic={"noise": 0.01, "eval_every": 10, "trial_cost_s": trial_cost_s},
                    budget=budget, rules=rules)
    run_dir = tmp_path / f"probe-{rule}-{on}-{trial_cost_s}-{cost_s}"
    state, _ = run_simulated(raw, run_dir)
    return state, recorded_events(run_dir)


def test_fastest_first_probes_every_candidate_then_trains_rung_0_fastest_first(tmp_path):
    from sonar.search.schedulers.probe_order import RELEASE_REASON

    state, events = _probe_run(tmp_path, on=True)
    check_decisions_valid(events, respects_cost=True)
    assert replay(events) == []
    submitted = [Job(**payload) for kind, payload, _ in events if kind == "job_submitted"]
    rung0_trains = [job.candidate for job in submitted if job.kind == "train" and job.rung == 0]
    probes = [job.candidate for job in submitted if job.kind == "tune" and job.rung == 0]
    assert set(probes) == set(state.candidates)  # every candidate's first configuration is measured
    releases = [d.candidate for d in state.decisions if d.reason == RELEASE_REASON]
    # only the candidates started before any job priced a trial (one per worker) train unreleased ...
    unreleased = [c for c in rung0_trains if c not in releases]
    assert unreleased == sorted(state.candidates)[:state.spec.executor.workers]
    # ... and every released one trains after the last candidate's probe was submitted
    last_probe = max(i for i, job in enumerate(submitted) if job.kind == "tune" and job.rung == 0)
    first_train = {}
    for i, job in enumerate(submitted):
        if job.kind == "train" and job.rung == 0:
            first_train.setdefault(job.candidate, i)
    assert releases and all(first_train[c] > last_probe for c in releases)
    assert sorted(releases + unreleased) == sorted(rung0_trains)
    probed = {c: state.candidates[c].tuning[0].best_latency_s for c in releases}
    assert releases == sorted(releases, key=lambda c: (probed[c], c))
    off, off_events = _probe_run(tmp_path, on=False)
    assert not any(d.reason == RELEASE_REASON for d in off.decisions)


def test_fastest_first_stands_aside_where_a_trial_costs_more_than_rung_0s_steps(tmp_path):
    from sonar.search.schedulers.probe_order import RELEASE_REASON

    on, _ = _probe_run(tmp_path, on=True, trial_cost_s=10000.0)
    off, _ = _probe_run(tmp_path, on=False, trial_cost_s=10000.0)
    assert not any(d.reason == RELEASE_REASON for d in on.decisions)
    assert on.decisions == off.decisions


@pytest.mark.parametrize("cost_s", [0.5, 3.0])
def test_fastest_first_leaves_no_candidate_undecided_when_the_cost_budget_runs_out(tmp_path, cost_s):
    from sonar.search.schedulers.probe_order import RELEASE_REASON

    state, events = _probe_run(tmp_path, on=True, cost_s=cost_s)
    check_decisions_valid(events, respects_cost=True)  # every held candidate is stopped, none left waiting
    assert any(d.reason == RELEASE_REASON for d in state.decisions) or any(
        d.reason == "cost budget spent" and d.rung == 0 for d in state.decisions)


def _defer_run(tmp_path, on: bool, trial_cost_s: float = 0.01):
    return _probe_run(tmp_path, on, trial_cost_s, rule="defer_far_probes", candidates=24)


def test_defer_far_probes_puts_off_training_only_for_candidates_probed_beyond_reach(tmp_path):
    from sonar.search.schedulers.probe_order import PRIOR_GAIN, RELEASE_REASON, reach

    state, events = _defer_run(tmp_path, on=True)
    check_decisions_valid(events, respects_cost=True)
    assert replay(events) == []
    limit = state.spec.objective.latency_s
    probe = {cid: c.tuning[0].best_latency_s for cid, c in state.candidates.items()}
    releases = [d.candidate for d in state.decisions if d.reason == RELEASE_REASON]
    assert releases, "the scenario has candidates probed far beyond the bound"
    assert all(probe[c] > PRIOR_GAIN * limit for c in releases)  # the reach is never below the prior
    assert releases == sorted(releases, key=lambda c: (probe[c], c))  # the nearest to the bound first
    # reach only grows, so a candidate trained without waiting was within the final reach, but for those
    # started before any job priced a trial (one per worker), which train unprobed
    final_reach = reach(make_scheduler(state.spec), state)
    assert final_reach >= PRIOR_GAIN
    trained = {Job(**p).candidate for kind, p, _ in events if kind == "job_submitted" and p["kind"] == "train"}
    unpriced = set(sorted(state.candidates)[:state.spec.executor.workers])
    assert all(probe[c] <= final_reach * limit for c in trained - set(releases) - unpriced)
    # the held ones train only once nothing is left to start, each after its probe
    kinds = [(kind, payload) for kind, payload, _ in events if kind in ("decision", "job_submitted")]
    last_start = max(i for i, (kind, p) in enumerate(kinds) if kind == "decision" and p["action"] == "start")
    for cid in releases:
        first_train = min(i for i, (kind, p) in enumerate(kinds)
                          if kind == "job_submitted" and p["candidate"] == cid and p["kind"] == "train")
        probed = min(i for i, (kind, p) in enumerate(kinds)
                     if kind == "job_submitted" and p["candidate"] == cid and p["kind"] == "tune")
        assert probed < first_train and last_start < first_train
    off, _ = _defer_run(tmp_path, on=False)
    assert not any(d.reason == RELEASE_REASON for d in off.decisions)


def test_defer_far_probes_stands_aside_where_a_trial_costs_more_than_rung_0s_steps(tmp_path):
    on, _ = _defer_run(tmp_path, on=True, trial_cost_s=10000.0)
    off, _ = _defer_run(tmp_path, on=False, trial_cost_s=10000.0)
    assert on.decisions == off.decisions


def test_reach_is_the_largest_gain_a_finished_sweep_made_over_its_first_trial():
    from types import SimpleNamespace

    from sonar.interfaces import TuningPoint
    from sonar.search.schedulers.probe_order import PRIOR_GAIN, reach
    from sonar.search.state import CandidateState

    def candidate(cid, latencies, complete):
        best, points = float("inf"), []
        for i, latency in enumerate(latencies):
            best = min(best, latency)
            points.append(TuningPoint(trial=i + 1, seconds=float(i), config={}, latency_s=latency, spread_s=0.0,
                                      quality_delta=0.0, best_latency_s=best))
        return CandidateState(id=cid, index=0, model=None, seed=0, tuning=points, tuning_complete=complete)

    scheduler = SimpleNamespace(spec=SimpleNamespace(budget=SimpleNamespace(max_trials=10)))
    state = SimpleNamespace(candidates={"a": candidate("a", [0.02, 0.01], complete=False)})
    assert reach(scheduler, state) == PRIOR_GAIN  # no sweep finished: the prior
    state.candidates["b"] = candidate("b", [0.05, 0.03, 0.001], complete=True)  # 50x over its first trial
    assert reach(scheduler, state) == pytest.approx(50.0)
    state.candidates["c"] = candidate("c", [0.002] * 10, complete=False)  # trial budget spent: finished, 1x
    assert reach(scheduler, state) == pytest.approx(50.0)


def _learned_run(tmp_path, objective, on: bool):
    raw = make_spec(scheduler="sonar", objective=objective, budget={"candidates": 24}, rules={"learned_starts": on})
    run_dir = tmp_path / f"learned-{objective['kind']}-{on}"
    state, _ = run_simulated(raw, run_dir)
    return state, recorded_events(run_dir)


def test_learned_starts_give_every_other_start_the_architecture_the_model_predicts_best(tmp_path):
    from collections import Counter

    from sonar.search.schedulers.start_order import LEARNED_REASON, MIN_FITTED, chosen_starts
    from sonar.search.space import sample_architectures

    state, events = _learned_run(tmp_path, OBJECTIVES["constraint"], on=True)
    check_decisions_valid(events, respects_cost=True)
    assert replay(events) == []
    spec = state.spec
    pool = sample_architectures(spec.arch, seed=spec.seed, count=spec.budget.candidates)
    assert Counter(c.model for c in state.candidates.values()) == Counter(pool)  # every one starts, once
    learned = [d for d in state.decisions if d.reason == LEARNED_REASON]
    assert learned and all(int(d.candidate[1:]) % 2 == 0 for d in learned)
    # each learned start is what the rule computes from the state it was decided in
    folded = state_from_events(events[:1])
    checked = 0
    for kind, payload, stamp in events[1:]:
        if kind == "decision" and payload["reason"] == LEARNED_REASON:
            scheduler = make_scheduler(folded.spec)
            scheduler._refit(folded)
            assert sum(1 for c in folded.candidates.values() if c.curve) >= MIN_FITTED
            expected = chosen_starts(scheduler, folded, pool, [payload["candidate"]])[0]
            assert expected.model == payload["model"] and expected.reason == LEARNED_REASON
            checked += 1
        folded.apply(kind, payload, stamp)
    assert checked == len(learned)
    assert [c.model for c in state.candidates.values()] != pool  # the model moved some forward
    off, _ = _learned_run(tmp_path, OBJECTIVES["constraint"], on=False)
    assert not any(d.reason == LEARNED_REASON for d in off.decisions)
    assert [c.model for c in off.candidates.values()] == pool  # off: the sampler's order


def test_learned_starts_stand_aside_in_pareto_mode(tmp_path):
    on, _ = _learned_run(tmp_path, OBJECTIVES["pareto"], on=True)
    off, _ = _learned_run(tmp_path, OBJECTIVES["pareto"], on=False)
    assert on.decisions == off.decisions


def test_the_start_model_ranks_architectures_as_a_linear_loss_would():
    import numpy as np

    from sonar.search.schedulers.start_order import fit

    rng = np.random.default_rng(0)
    x_NF = rng.normal(size=(40, 6))
    x_NF[:, 5] = 1.0  # a feature every point shares carries nothing, and breaks nothing
    y_N = 3.0 + 2.0 * x_NF[:, 0] - x_NF[:, 1] + rng.normal(0, 0.01, 40)
    predict = fit(x_NF, y_N)
    fresh = rng.normal(size=(8, 6))
    fresh[:, 5] = 1.0
    truth = 3.0 + 2.0 * fresh[:, 0] - fresh[:, 1]
    assert np.argsort([predict(x) for x in fresh]).tolist() == np.argsort(truth).tolist()
