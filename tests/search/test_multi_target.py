"""Several targets in one search: the spec, per-target jobs, a winner per target (or one within every
bound), resume, export; and a single-target search recording exactly what it always has."""

import json

import pytest
import yaml
from search_support import CrashAfter, make_spec, recorded_events, run_simulated
from test_schedulers_contract import SMALL, check_decisions_valid
from typer.testing import CliRunner

from sonar.cli import app
from sonar.interfaces import Candidate
from sonar.model.presets import preset
from sonar.search.backends import Backend, FurtherTargetTuner, build_backend
from sonar.search.engine import run_search, start_search
from sonar.search.executors import SimulatedExecutor
from sonar.search.records import Job
from sonar.search.replay import replay
from sonar.search.results import summary, target_winners
from sonar.search.schedulers import SCHEDULERS
from sonar.search.spec import parse_spec
from sonar.search.spec_fields import SpecError
from sonar.search.state import state_from_events
from sonar.search.storage import Storage
from sonar.search.target_views import worst_case_state

LAPTOP_BOUND = 0.0021
# The laptop holds every expert's weights in memory, so its latency grows with the total parameter
# count, and its bound is tighter: the server's winner (the best loss within 4 ms) misses it.
TWO_TARGETS = {
    "targets": [{"name": "server"}, {"name": "laptop", "latency_s": LAPTOP_BOUND, "threads": [1]}],
    "synthetic": {"targets": {"laptop": {"size": "total"}}},
}


def two_target_spec(across: str = "each", **changes) -> dict:
    return make_spec(**TWO_TARGETS, objective={"kind": "constraint", "latency_s": 0.004, "across_targets": across},
                     **changes)


@pytest.fixture(scope="module")
def each_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("each")
    state, _ = run_simulated(two_target_spec(), root / "run")
    return root / "run", state


def test_spec_reads_each_targets_bound_workload_and_threads():
    spec = parse_spec(make_spec(targets=[{"name": "server"},
                                         {"name": "laptop", "latency_s": 0.02, "threads": [1, 2],
                                          "workload": {"kind": "decode", "context": 64}}],
                                objective={"kind": "constraint", "latency_s": 0.004, "across_targets": "worst"}))
    server, laptop = spec.targets
    assert (server.latency_s, server.workload, server.threads) == (0.004, None, None)
    assert (laptop.latency_s, laptop.workload, laptop.threads) == (0.02, {"kind": "decode", "context": 64}, (1, 2))
    assert spec.objective.across_targets == "worst"
    first_own = parse_spec(make_spec(targets=[{"name": "a", "latency_s": 0.5}, {"name": "b", "latency_s": 0.1}],
                                     objective={"kind": "constraint"}))
    assert first_own.objective.latency_s == 0.5  # one bound means the first target's


@pytest.mark.parametrize(("targets", "objective", "key"), [
    ([{"name": "a", "latency_s": 0}], {"kind": "constraint", "latency_s": 1}, "targets[0].latency_s"),
    ([{"name": "a"}, {"name": "b", "latency_s": 1}], {"kind": "constraint"}, "objective.latency_s"),
    ([{"name": "a", "latency_s": 1}], {"kind": "pareto"}, "targets[0].latency_s"),
    ([{"name": "a"}], {"kind": "pareto", "across_targets": "worst"}, "objective.across_targets"),
    ([{"name": "a"}], {"kind": "constraint", "latency_s": 1, "across_targets": "best"}, "objective.across_targets"),
    ([{"name": "a", "threads": [0]}], {"kind": "constraint", "latency_s": 1}, "targets[0].threads[0]"),
    ([{"name": "a", "workload": {"context": "long"}}], {"kind": "constraint", "latency_s": 1},
     "targets[0].workload.context"),
    ([{"name": "a"}, {"name": "../b"}], {"kind": "constraint", "latency_s": 1}, "targets[1].name"),
    ([{"name": "a", "gpus": 2}], {"kind": "constraint", "latency_s": 1}, "targets[0].gpus"),
])
def test_spec_errors_name_the_key(targets, objective, key):
    with pytest.raises(SpecError, match=r"^" + key.replace("[", r"\[").replace("]", r"\]")):
        parse_spec(make_spec(targets=targets, objective=objective))


def test_synthetic_target_options_must_name_a_target():
    with pytest.raises(SpecError, match=r"^synthetic\.targets\.phone: not a target"):
        parse_spec(make_spec(**{**TWO_TARGETS, "synthetic": {"targets": {"phone": {"scale": 2}}}}))
    with pytest.raises(SpecError, match=r"^synthetic\.targets\.laptop\.size"):
        parse_spec(make_spec(**{**TWO_TARGETS, "synthetic": {"targets": {"laptop": {"size": "all"}}}}))


def test_tune_job_ids_name_their_target_only_with_several_targets():
    one = Job(candidate="c001", kind="tune", rung=2, until=9, target="cpu")
    several = Job(candidate="c001", kind="tune", rung=2, until=9, target="laptop", names_target=True)
    assert (one.id, several.id) == ("c001/r2/tune", "c001/r2/tune@laptop")
    assert "names_target" not in one.to_dict() and Job(**one.to_dict()) == one  # recorded as before
    assert Job(**several.to_dict()) == several
    with pytest.raises(ValueError, match="names its target"):
        Job(candidate="c001", kind="train", rung=0, until=9, names_target=True)


def test_a_single_target_search_records_jobs_as_before(tmp_path):
    state, _ = run_simulated(make_spec(budget={"candidates": 6}), tmp_path / "run")
    submitted = [p for kind, p, _ in recorded_events(tmp_path / "run") if kind == "job_submitted"]
    assert submitted and all("names_target" not in p for p in submitted)
    tunes = [r.job for r in state.jobs.values() if r.job.kind == "tune"]
    assert tunes and all(j.id == f"{j.candidate}/r{j.rung}/tune" and j.target == "cpu" for j in tunes)
    assert [w["target"] for w in summary(state)["per_target"]] == ["cpu"]
    assert summary(state)["per_target"][0]["id"] == summary(state)["best"]["id"]


def test_every_rung_tunes_on_every_target_with_its_own_trials(each_run):
    run_dir, state = each_run
    tunes = [r.job for r in state.jobs.values() if r.job.kind == "tune"]
    assert {j.target for j in tunes} == {"server", "laptop"}
    assert all(j.id.endswith(f"/tune@{j.target}") for j in tunes)
    finished = [c for c in state.candidates.values() if c.status == "finished"]
    assert finished
    bounds = {"server": 0.004, "laptop": LAPTOP_BOUND}
    for c in finished:  # tuned on each target until its sweep is done or a config meets its bound
        for target, bound in bounds.items():
            tuning = c.on(target).tuning
            assert len(tuning) == 27 or (len(tuning) < 27 and min(p.latency_s for p in tuning) <= bound)
        assert c.on("server").tuning is c.tuning and c.on("laptop").tuning != c.tuning
        assert {p.config["threads"] for p in c.on("laptop").tuning} == {1}  # the laptop's own thread counts
        assert (run_dir / "candidates" / c.id / "targets" / "laptop" / "synthetic_tuning.json").is_file()
    assert replay(recorded_events(run_dir)) == []


def test_each_target_gets_its_own_winner_and_they_differ(each_run):
    _, state = each_run
    winners = target_winners(state)
    server, laptop = winners["server"], winners["laptop"]
    assert server.latency_s <= 0.004 and laptop.latency_s <= LAPTOP_BOUND
    # they must differ: the server's winner is measured, fully tuned, too slow for the laptop
    assert state.candidates[server.id].on("laptop").best_latency() > LAPTOP_BOUND
    assert server.id != laptop.id
    finished = [c for c in state.candidates.values() if c.status == "finished"]
    feasible = [c for c in finished if c.on("laptop").best_latency() <= LAPTOP_BOUND]
    assert laptop.id == min(feasible, key=lambda c: c.val_loss()).id
    info = summary(state)
    assert [(w["target"], w["id"]) for w in info["per_target"]] == [("server", server.id), ("laptop", laptop.id)]
    assert info["best"]["id"] == server.id  # `best` is the first target's


def test_worst_case_picks_one_winner_within_every_bound(tmp_path):
    state, _ = run_simulated(two_target_spec("worst"), tmp_path / "run")
    winners = target_winners(state)
    assert winners["server"].id == winners["laptop"].id
    chosen = state.candidates[winners["server"].id]
    assert chosen.on("server").best_latency() <= 0.004 and chosen.on("laptop").best_latency() <= LAPTOP_BOUND
    both = [c for c in state.candidates.values() if c.status == "finished"
            and c.on("server").best_latency() <= 0.004 and c.on("laptop").best_latency() <= LAPTOP_BOUND]
    assert chosen.id == min(both, key=lambda c: c.val_loss()).id
    assert summary(state)["best"]["id"] == chosen.id
    assert replay(recorded_events(tmp_path / "run")) == []


def test_a_killed_two_target_search_resumes_to_the_uninterrupted_result(tmp_path):
    raw = two_target_spec(executor={"workers": 1}, budget={"candidates": 9})
    reference, _ = run_simulated(raw, tmp_path / "reference")
    start_search(raw, tmp_path / "run").close()
    with pytest.raises(KeyboardInterrupt):
        run_search(tmp_path / "run", CrashAfter(1, 17))
    resumed = run_search(tmp_path / "run", SimulatedExecutor(1))
    assert resumed.decisions == reference.decisions
    folded = Storage(tmp_path / "run")
    try:
        again = folded.state()
    finally:
        folded.close()
    for c in reference.candidates.values():
        for state in (resumed, again):
            mine = state.candidates[c.id]
            assert [mine.on(t).tuning for t in ("server", "laptop")] == [c.on(t).tuning for t in ("server", "laptop")]
            assert mine.curve == c.curve and mine.completes == c.completes
    assert summary(again)["per_target"] == summary(reference)["per_target"]
    assert replay(recorded_events(tmp_path / "run")) == []


def test_status_and_export_show_every_targets_winner(each_run, tmp_path):
    run_dir, state = each_run
    cli = CliRunner()
    result = cli.invoke(app, ["status", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert [w["target"] for w in json.loads(result.output)["per_target"]] == ["server", "laptop"]
    result = cli.invoke(app, ["export", str(run_dir), "--best", "--to", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    winners = target_winners(state)
    for name in ("server", "laptop"):
        config = json.loads((tmp_path / "out" / f"system_config.{name}.json").read_text())
        assert (config["target"], config["candidate"]) == (name, winners[name].id)
        assert (tmp_path / "out" / config["model"] / "config.json").is_file()
    first = json.loads((tmp_path / "out" / "system_config.json").read_text())
    assert first["candidate"] == winners["server"].id
    assert json.loads((tmp_path / "out" / "system_config.laptop.json").read_text())["model"] == "model.laptop"
    result = cli.invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Chosen per target" in page and f"<td>laptop</td><td>{winners['laptop'].id}</td>" in page


def test_the_multi_target_example_runs(tmp_path):
    from pathlib import Path

    example = Path(__file__).parents[2] / "examples" / "search-multi-target.yaml"
    raw = yaml.safe_load(example.read_text())
    result = CliRunner().invoke(app, ["search", str(example), "--out", str(tmp_path / "run"), "--no-live"])
    assert result.exit_code == 0, result.output
    winners = {w["target"]: w["id"] for w in json.loads(CliRunner().invoke(
        app, ["status", str(tmp_path / "run"), "--json"]).output)["per_target"]}
    assert set(winners) == {t["name"] for t in raw["targets"]} and all(winners.values())


MODES = {
    "each": {"kind": "constraint", "latency_s": 0.004},
    "worst": {"kind": "constraint", "latency_s": 0.004, "across_targets": "worst"},
    "pareto": {"kind": "pareto"},
    "scalarized": {"kind": "scalarized", "weights": {"loss": 1.0, "latency_s": 200.0}},
}
OFF_RULES = {"eliminate": True, "feasible_stops_tuning": True, "catch_up_by_rung": True, "latency_model": True}


CASES = [(name, mode, "policy") for name in sorted(SCHEDULERS) for mode in sorted(MODES)] + [
    ("sonar", mode, "every-rule") for mode in sorted(MODES)]


@pytest.mark.parametrize(("name", "mode", "rules"), CASES)
def test_every_scheduler_keeps_its_contract_over_two_targets(name, mode, rules, tmp_path):
    targets = TWO_TARGETS["targets"] if MODES[mode]["kind"] == "constraint" else [{"name": "server"},
                                                                                  {"name": "laptop"}]
    raw = make_spec(scheduler=name, objective=MODES[mode], budget=SMALL, rules=OFF_RULES if rules != "policy" else {},
                    targets=targets, synthetic=TWO_TARGETS["synthetic"])
    state, _ = run_simulated(raw, tmp_path / "run")
    events = recorded_events(tmp_path / "run")
    check_decisions_valid(events, respects_cost=SCHEDULERS[name].respects_cost_budget)
    assert replay(events) == []
    for c in state.candidates.values():  # a candidate that finished was tuned on both targets
        if c.status == "finished":
            assert c.on("server").tuning and c.on("laptop").tuning
    if rules == "policy":  # the rules off by default may screen out every candidate, as with one target
        assert all(winner is not None for winner in target_winners(state).values())


def test_worst_case_holds_a_less_tuned_targets_best_so_far():
    spec = parse_spec(two_target_spec("worst"))
    events = [("spec", {"spec": spec.raw}, 0.0),
              ("decision", {"candidate": "c000", "action": "start", "rung": 0}, 0.0)]
    for target, bests in (("server", [0.002]), ("laptop", [0.0042, 0.0021, 0.00105])):
        job = Job(candidate="c000", kind="tune", rung=0, until=3, target=target, names_target=True)
        points = [{"trial": i + 1, "seconds": i + 1.0, "config": {}, "latency_s": b, "spread_s": 0.0,
                   "quality_delta": 0.0, "best_latency_s": b} for i, b in enumerate(bests)]
        events += [("job_submitted", job.to_dict(), 0.0),
                   ("job_done", {"job_id": job.id, "points": points, "cost_s": 1.0}, 0.0)]
    state = state_from_events(events)
    worst = worst_case_state(state).candidates["c000"]
    # the server stopped after one trial (complete: it returned fewer than asked) at half its bound
    assert [p.best_latency_s for p in worst.tuning] == pytest.approx([2.0, 1.0, 0.5])
    assert worst.tuning_complete is False  # the laptop's tuning goes on
    assert worst_case_state(state).spec.objective.latency_s == 1.0


def test_real_backend_builds_a_tuner_per_target_with_its_settings():
    pytest.importorskip("sonar.systems.tuner")
    spec = parse_spec(make_spec(
        backend="synthetic", system={"schemes": ["fp32", "bf16"], "threads": [1, 2]},
        workload={"kind": "decode", "context": 128},
        targets=[{"name": "server"},
                 {"name": "laptop", "threads": [1], "workload": {"kind": "decode", "context": 32}}]))
    backend = build_backend(spec, "real")
    laptop = backend.target_tuners["laptop"].tuner
    assert backend.tuner.workload.label() != laptop.workload.label()
    assert set(backend.tuner.space.threads) == {1, 2} and set(laptop.space.threads) == {1}


def test_a_further_targets_real_tuner_keeps_its_state_apart_and_reads_the_candidates_weights(tmp_path):
    class Recorder:
        checkpoint = prior_path = None

        def run(self, candidate, until_trial):
            self.seen = (candidate.workdir, self.checkpoint, self.prior_path)
            return []

    inner = Recorder()
    backend = Backend(trainer=None, tuner=Recorder(), target_tuners={"laptop": FurtherTargetTuner(inner, "laptop")})
    home = tmp_path / "candidates" / "c003"
    candidate = Candidate(id="c003", model=preset("debug"), workdir=home)
    tuner, moved = backend.tuning(candidate, "laptop")
    tuner.run(moved, 3)
    assert inner.seen == (home / "targets" / "laptop", home / "checkpoint",
                          tmp_path / "candidates" / "systems-prior.laptop.json")
    assert backend.tuning(candidate, "server") == (backend.tuner, candidate)  # the primary target: as before


def test_each_target_has_its_own_pareto_front_measured_there(tmp_path):
    raw = make_spec(objective={"kind": "pareto"}, targets=[{"name": "server"}, {"name": "laptop"}],
                    synthetic=TWO_TARGETS["synthetic"])
    state, _ = run_simulated(raw, tmp_path / "run")
    info = summary(state)
    fronts = {w["target"]: w["pareto"] for w in info["per_target"]}
    assert [p["id"] for p in fronts["server"]] == [p["id"] for p in info["pareto"]]  # the first target's
    for name, points in fronts.items():
        assert points
        on_target = {c.id: c.on(name).best_latency() for c in state.candidates.values()}
        for p in points:
            assert p["latency_s"] == on_target[p["id"]]
        losses = [p["val_loss"] for p in sorted(points, key=lambda p: p["latency_s"])]
        assert losses == sorted(losses, reverse=True)  # a front: slower only where it is better
    assert fronts["server"] != fronts["laptop"]  # the laptop's latency grows with the total parameters
    result = CliRunner().invoke(app, ["status", str(tmp_path / "run")])
    assert "pareto on laptop:" in result.output


def test_one_target_summary_keeps_its_shape(each_run):
    run_dir, _ = each_run
    single = make_spec(objective={"kind": "pareto"})
    state, _ = run_simulated(single, run_dir.parent / "single")
    assert "pareto" not in summary(state)["per_target"][0]
