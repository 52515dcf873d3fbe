"""A run describes itself: the spec's hash catches an edit, and each start records its architecture."""

import json
import sqlite3

import pytest
from search_support import make_spec, run_simulated

from sonar.errors import UserError
from sonar.model.config import ModelConfig
from sonar.search import state as state_module
from sonar.search.engine import run_search, start_search
from sonar.search.executors import SimulatedExecutor
from sonar.search.schedulers import base as scheduler_base
from sonar.search.spec_record import spec_sha256
from sonar.search.storage import DB_NAME, Storage

SMALL = {"budget": {"candidates": 6, "max_steps": 90, "max_trials": 9}}


def _events(run_dir):
    storage = Storage(run_dir)
    events = storage.events()
    storage.close()
    return events


def _edit_stored_spec(run_dir, **changes):
    raw = make_spec(**SMALL)
    for key, value in changes.items():
        raw[key] = {**raw[key], **value}
    with sqlite3.connect(run_dir / DB_NAME) as db:
        db.execute("UPDATE events SET payload = ? WHERE seq = 1", (json.dumps({"spec": raw}),))
    return raw


class _CrashAt(SimulatedExecutor):
    def __init__(self, crash_at: int) -> None:
        super().__init__(2)
        self.crash_at, self.submitted, self.models = crash_at, 0, []

    def submit(self, payload):
        self.submitted += 1
        if self.submitted == self.crash_at:
            raise KeyboardInterrupt
        self.models.append((payload.job.candidate, payload.model))
        return super().submit(payload)


def test_a_run_records_its_spec_hash(tmp_path):
    start_search(make_spec(**SMALL), tmp_path).close()
    (kind, spec, _), (accepted_kind, accepted, _) = _events(tmp_path)[:2]
    assert (kind, accepted_kind) == ("spec", "spec_accepted")
    assert accepted["sha256"] == spec_sha256(spec["spec"]) and len(accepted["sha256"]) == 64


def test_an_edited_stored_spec_is_refused_with_its_diff_then_allowed(tmp_path):
    start_search(make_spec(**SMALL), tmp_path).close()
    _edit_stored_spec(tmp_path, budget={"max_steps": 270})
    before = _events(tmp_path)
    with pytest.raises(UserError, match="--allow-spec-change") as refused:
        run_search(tmp_path, SimulatedExecutor(2))
    assert "-  max_steps: 90" in str(refused.value) and "+  max_steps: 270" in str(refused.value)
    assert _events(tmp_path) == before  # refused before writing anything
    state = run_search(tmp_path, SimulatedExecutor(2), allow_spec_change=True)
    assert state.finished and state.spec.budget.max_steps == 270
    accepted = [p for kind, p, _ in _events(tmp_path) if kind == "spec_accepted"]
    assert accepted[-1]["spec"]["budget"]["max_steps"] == 270
    assert run_search(tmp_path, SimulatedExecutor(2)).finished  # the accepted edit is the run's spec now


def test_a_run_from_before_hashes_is_accepted_as_found_and_hashed(tmp_path):
    start_search(make_spec(**SMALL), tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("DELETE FROM events WHERE kind = 'spec_accepted'")
    run_search(tmp_path, SimulatedExecutor(2))
    assert [kind for kind, _, _ in _events(tmp_path)].count("spec_accepted") == 1


def test_a_resume_uses_the_recorded_architectures_not_the_sampler(tmp_path, monkeypatch):
    start_search(make_spec(**SMALL), tmp_path).close()
    first = _CrashAt(crash_at=8)
    with pytest.raises(KeyboardInterrupt):
        run_search(tmp_path, first)
    recorded = {p["candidate"]: p["model"] for kind, p, _ in _events(tmp_path)
                if kind == "decision" and p["action"] == "start"}
    assert recorded and all(ModelConfig.from_dict(m).to_dict() == m for m in recorded.values())
    assert dict(first.models) == {c: recorded[c] for c, _ in first.models}

    real = state_module.sample_architectures

    def changed_sampler(space, *, seed, count):  # the sampler's code changed since the run started
        return [m.replace(num_hidden_layers=m.num_hidden_layers + 1) for m in real(space, seed=seed, count=count)]

    monkeypatch.setattr(state_module, "sample_architectures", changed_sampler)
    monkeypatch.setattr(scheduler_base, "sample_architectures", changed_sampler)  # learned starts draw here
    resumed = _CrashAt(crash_at=0)
    state = run_search(tmp_path, resumed)
    assert state.finished
    for cid, model in recorded.items():
        assert state.candidates[cid].model.to_dict() == model
    assert all(model == recorded[cid] for cid, model in resumed.models if cid in recorded)
    new = {cid for cid in state.candidates if cid not in recorded}
    assert new, "the crash should come before every candidate has started"
    starts = {p["candidate"]: p["model"] for kind, p, _ in _events(tmp_path)
              if kind == "decision" and p["action"] == "start"}
    drawn_now = [m.to_dict() for m in changed_sampler(state.spec.arch, seed=state.spec.seed,
                                                      count=state.spec.budget.candidates)]
    for cid in new:  # a candidate first started now is drawn now, from the sampler as it is, and recorded
        assert starts[cid] == state.candidates[cid].model.to_dict()
        assert starts[cid] in drawn_now


def test_a_run_from_before_recorded_architectures_folds_through_the_sampler(tmp_path):
    live, _ = run_simulated(make_spec(**SMALL), tmp_path)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        rows = db.execute("SELECT seq, payload FROM events WHERE kind = 'decision'").fetchall()
        for seq, payload in rows:
            db.execute("UPDATE events SET payload = ? WHERE seq = ?",
                       (json.dumps({k: v for k, v in json.loads(payload).items() if k != "model"}), seq))
    storage = Storage(tmp_path)
    rebuilt = storage.state()
    storage.close()
    assert {c.id: c.model for c in rebuilt.candidates.values()} == {c.id: c.model for c in live.candidates.values()}
