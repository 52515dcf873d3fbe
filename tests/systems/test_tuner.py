"""SystemTuner: the Tuner contract, resumption, recorded failures, and the proposal order."""

import json
import math

import pytest

from sonar.interfaces import Candidate, Tuner, TuningPoint
from sonar.model import preset
from sonar.systems.config import SystemConfig
from sonar.systems.space import SearchSpace
from sonar.systems.trial import MeasureSettings
from sonar.systems.tuner import SystemTuner, propose

SPACE = SearchSpace(schemes=("fp32", "bf16", "int8"), dispatches=("grouped", "packed_grouped"),
                    attentions=("chunk_blocked", "sdpa"))

FAST = MeasureSettings(warmup=0, min_repeats=2, max_repeats=3, timeout_s=60)  # bookkeeping, not speed


def _tuner(**kw):
    return SystemTuner(workload="decode:ctx=40", space=kw.pop("space", SPACE), settings=FAST, **kw)


def _candidate(tmp_path, name="c"):
    return Candidate(id=name, model=preset("debug"), workdir=tmp_path / name)


def test_system_tuner_satisfies_the_tuner_protocol(tmp_path):
    tuner = _tuner(prior_path=tmp_path / "prior.json")
    assert isinstance(tuner, Tuner)
    curve = tuner.run(_candidate(tmp_path), 3)
    assert [p.trial for p in curve] == [1, 2, 3] and all(isinstance(p, TuningPoint) for p in curve)
    assert curve[0].config == SystemConfig().to_dict()  # the untuned default is measured first
    seconds = [p.seconds for p in curve]
    assert seconds == sorted(seconds) and seconds[0] > 0
    best = [p.best_latency_s for p in curve]
    assert best == sorted(best, reverse=True)
    assert all(p.extra["target"]["torch"] for p in curve)


def test_resumed_tuner_continues_the_same_curve(tmp_path):
    candidate = _candidate(tmp_path)
    first = _tuner(prior_path=tmp_path / "prior.json").run(candidate, 2)
    resumed = _tuner(prior_path=tmp_path / "prior.json").run(candidate, 4)
    assert resumed[:2] == first
    assert [p.trial for p in resumed] == [1, 2, 3, 4]
    assert resumed[2].seconds > first[-1].seconds
    assert len({json.dumps(p.config, sort_keys=True) for p in resumed}) == 4  # nothing measured twice
    # Asking for fewer trials than recorded returns the recorded prefix and measures nothing.
    assert _tuner(prior_path=tmp_path / "prior.json").run(candidate, 2) == first


def test_failing_configs_are_recorded_and_tuning_goes_on(tmp_path, failing_dispatches):
    space = SearchSpace(schemes=("fp32",), dispatches=("grouped", "broken", "nan", "dense"),
                        attentions=("chunk_blocked",))
    curve = _tuner(space=space, prior_path=tmp_path / "prior.json").run(_candidate(tmp_path), 4)
    failures = {p.config["moe_dispatch"]: p.failure for p in curve}
    assert failures["broken"].startswith("error: RuntimeError")
    assert failures["nan"] == "numerical: non-finite outputs"
    assert failures["grouped"] is None and failures["dense"] is None
    assert all(math.isfinite(p.best_latency_s) for p in curve)


def test_proposal_is_a_pure_function_of_state():
    configs = SPACE.configs(preset("debug"), workload_kind="decode")
    state = {"points": [], "prior_snapshot": [], "run_records": []}
    first = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1)
    assert first == SystemConfig()
    measured = {"config": first.to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": 1.0}
    state = {"points": [measured], "prior_snapshot": [], "run_records": []}
    second = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1)
    assert second == propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1)
    assert second.weights_routed != "fp32"  # before any measurement, fewer weight bytes are the guess


def test_prior_learned_elsewhere_reorders_proposals():
    configs = SPACE.configs(preset("debug"), workload_kind="decode")
    default = {"config": SystemConfig().to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": 1.0}
    # Earlier runs (other architectures) found sdpa 2x faster and every low-precision format slower.
    records = [{"arch": "other", "workload_kind": "decode", "config": SystemConfig(attention="sdpa").to_dict(),
                "log_ratio": math.log(0.5)}]
    for fmt in ("bf16", "int8"):
        slow = SystemConfig(weights_routed=fmt, weights_shared=fmt, weights_attention=fmt, weights_dense=fmt,
                            weights_head=fmt, moe_dispatch="packed_grouped")
        records.append({"arch": "other", "workload_kind": "decode", "config": slow.to_dict(),
                        "log_ratio": math.log(3.0)})
    # Every scheme has had its warm-up trial (chunk_blocked kernels), so the prior now orders kernels.
    warmed = [{"config": r["config"], "failure": None, "quality_delta": 0.0, "latency_s": 3.0} for r in records[1:]]
    state = {"points": [default, *warmed], "prior_snapshot": records, "run_records": []}
    pick = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1)
    assert pick.attention == "sdpa" and pick.weights_routed == "fp32"


def test_compiled_configs_wait_for_their_eager_twin():
    space = SearchSpace(schemes=("fp32",), dispatches=("grouped", "gather"), attentions=("sdpa", "chunk_blocked"),
                        compiles=("eager", "default"))
    configs = space.configs(preset("debug"), workload_kind="decode")

    def point(config, latency):
        return {"config": config.to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": latency}

    state = {"points": [point(SystemConfig(), 1.0)], "prior_snapshot": [], "run_records": []}
    for config, latency in ((SystemConfig(attention="sdpa"), 0.5), (SystemConfig(moe_dispatch="gather"), 2.0),
                            (SystemConfig(moe_dispatch="gather", attention="sdpa"), 0.9)):
        state["points"].append(point(config, latency))
    pick = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1)
    # The fastest eager config (grouped, sdpa) earns a compiled trial with grouped's sync-free twin.
    assert pick == SystemConfig(moe_dispatch="gather", attention="sdpa", compile="default")
    state["points"].append(point(pick, 0.4))
    assert propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1) is None


def test_each_compile_mode_is_tried_once_before_a_measured_one_takes_the_slots():
    from sonar.systems.prior import record

    space = SearchSpace(schemes=("fp32",), dispatches=("gather",), attentions=("chunk_blocked", "sdpa"),
                        compiles=("eager", "default", "aot"))
    configs = space.configs(preset("debug"), workload_kind="decode")

    def point(config, latency):
        return {"config": config.to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": latency}

    # An older run's prior says compile=default halves the step: without the warm-up it would take both slots.
    old = record(SystemConfig(moe_dispatch="gather", compile="default").to_dict(), "decode", 0.5, 1.0, False, "x")
    state = {"points": [point(SystemConfig(moe_dispatch="gather"), 1.0),
                        point(SystemConfig(moe_dispatch="gather", attention="sdpa"), 1.1)],
             "prior_snapshot": [old], "run_records": []}
    first = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=2, eager_done=True)
    assert first == SystemConfig(moe_dispatch="gather", compile="default")  # both modes unseen: the prior decides
    state["points"].append(point(first, 0.5))
    second = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=2, eager_done=True)
    assert second == SystemConfig(moe_dispatch="gather", compile="aot")  # the unmeasured mode, not default on sdpa
    state["points"].append(point(second, 0.3))
    third = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=2, eager_done=True)
    assert third == SystemConfig(moe_dispatch="gather", attention="sdpa", compile="default")  # then the prior ranks


def test_the_config_with_the_fewest_weight_bytes_earns_a_compile_slot_however_slow_eagerly():
    space = SearchSpace(schemes=("fp32", "int8"), dispatches=("packed_gather",), attentions=("chunk_blocked",),
                        compiles=("eager", "aot"))
    configs = space.configs(preset("debug"), workload_kind="decode")
    fp32, int8 = (next(c for c in configs if c.compile == "eager" and c.weights_dense == w) for w in ("fp32", "int8"))

    def point(config, latency):
        return {"config": config.to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": latency}

    # int8 eagerly pays a dequantization per linear: slower than fp32 here, and still the one to compile
    state = {"points": [point(SystemConfig(), 2.0), point(fp32, 1.0), point(int8, 1.5)],
             "prior_snapshot": [], "run_records": []}
    proposed = []
    while (pick := propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1,
                           eager_done=True)) is not None:
        proposed.append(pick)
        state["points"].append(point(pick, 0.5))
    assert {(c.weights_dense, c.compile) for c in proposed} == {("fp32", "aot"), ("int8", "aot")}


def test_an_eager_only_winner_leaves_the_compile_slot_to_the_best_compilable_config():
    # Prepacked fbgemm linears run eagerly only, so their configs have no compiled form in the space.
    space = SearchSpace(schemes=("fp32", "int8_fbgemm"), dispatches=("grouped", "gather"),
                        attentions=("chunk_blocked",), compiles=("eager", "default"))
    configs = space.configs(preset("debug"), workload_kind="decode")
    assert not any(c.compile != "eager" and c.weights_dense == "int8_fbgemm" for c in configs)

    def point(config, latency):
        return {"config": config.to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": latency}

    fbgemm = next(c for c in configs if c.weights_dense == "int8_fbgemm" and c.compile == "eager")
    state = {"points": [point(SystemConfig(), 1.0), point(fbgemm, 0.3)], "prior_snapshot": [], "run_records": []}
    pick = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1, eager_done=True)
    assert pick == SystemConfig(moe_dispatch="gather", compile="default")  # the default, next best, compiles


@pytest.mark.slow
def test_compiled_decode_runs_without_recompiling():
    import torch

    from sonar.model import build_model
    from sonar.systems.apply import prepare
    from sonar.systems.quality import logits_error
    from sonar.systems.trial import Reference
    from sonar.systems.workload import Session, Workload

    model = build_model(preset("debug")).eval()
    workload = Workload.parse("decode:ctx=40")
    prepared = prepare(model, SystemConfig(compile="default", moe_dispatch="gather", attention="sdpa"))
    session = Session(prepared, workload)
    first = session.first_output()  # compiles
    with torch.compiler.set_stance("fail_on_recompile"):
        for _ in range(4):  # later positions reuse the same graphs
            session.call()
    assert logits_error(first, Reference(model).output(workload, 1)[0]) < 1e-4


def test_a_weight_scheme_over_the_quality_limit_is_not_proposed_again():
    configs = SPACE.configs(preset("debug"), workload_kind="decode")
    int8 = SystemConfig(**{f"weights_{s}": "int8" for s in ("routed", "shared", "attention", "dense", "head")},
                        moe_dispatch="packed_grouped")
    state = {"points": [
        {"config": SystemConfig().to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": 1.0},
        {"config": int8.to_dict(), "failure": None, "quality_delta": 0.05, "latency_s": 0.5},
    ], "prior_snapshot": [], "run_records": []}
    seen = []
    while (pick := propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=0)):
        seen.append(pick)
        state["points"].append({"config": pick.to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": 1.0})
    assert seen and not any(c.weights_routed == "int8" for c in seen)


@pytest.mark.slow
def test_isolated_trials_record_the_same_fields(tmp_path):
    space = SearchSpace(schemes=("fp32", "bf16"), dispatches=("grouped", "packed_grouped"), attentions=("sdpa",))
    curve = _tuner(space=space, isolate=True, prior_path=tmp_path / "prior.json").run(_candidate(tmp_path), 2)
    assert [p.trial for p in curve] == [1, 2]
    assert all(p.failure is None and math.isfinite(p.latency_s) for p in curve)
    assert curve[1].quality_delta > 0 and curve[1].extra["target"]["torch"]


def test_every_weight_scheme_is_tried_once_before_kernels_are_tuned():
    configs = SPACE.configs(preset("debug"), workload_kind="decode")
    state = {"points": [], "prior_snapshot": [], "run_records": []}
    schemes = []
    for _ in range(3):
        pick = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=0)
        schemes.append(pick.weights_routed)
        state["points"].append({"config": pick.to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": 1.0})
    assert sorted(schemes) == ["bf16", "fp32", "int8"]


def test_compiled_configs_wait_for_the_eager_sweep_to_end():
    space = SearchSpace(schemes=("fp32",), dispatches=("grouped", "gather"), attentions=("sdpa", "chunk_blocked"),
                        compiles=("eager", "default"))
    configs = space.configs(preset("debug"), workload_kind="decode")
    measured = {"config": SystemConfig().to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": 1.0}
    state = {"points": [measured], "prior_snapshot": [], "run_records": []}
    sweeping = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1)
    assert sweeping.compile == "eager"  # eager configs remain: no compile yet, however fast the default
    done = propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1, eager_done=True)
    assert done == SystemConfig(moe_dispatch="gather", compile="default")  # the default's sync-free twin
    # A sweep that stopped before warming up every weight scheme still compiles its finalist.
    with_unseen = SearchSpace(**{**space.__dict__, "schemes": ("fp32", "bf16"),
                                 "dispatches": ("grouped", "gather", "packed_grouped")})
    with_unseen = with_unseen.configs(preset("debug"), workload_kind="decode")
    assert any(c.weights_routed == "bf16" for c in with_unseen)
    assert propose(with_unseen, state, workload_kind="decode", quality_limit=0.01, compile_top_k=1,
                   eager_done=True) == done


def _fake_trials(monkeypatch, measured: list):
    from sonar.systems import tuner as tuner_module
    from sonar.systems.trial import TrialResult

    def fake_run_trial(model, config, workload, reference, *, settings, incumbent):
        measured.append(config.compile)
        latency = 0.5 if config.compile != "eager" else 1.0 + 0.001 * len(measured)
        return TrialResult(config=config.to_dict(), samples=[latency], latency_s=latency, quality_delta=0.0,
                           seconds=60.0 if config.compile != "eager" else 1.0)

    monkeypatch.setattr(tuner_module, "run_trial", fake_run_trial)


def test_a_finished_eager_sweep_resumes_into_its_compile_phase(tmp_path, monkeypatch):
    measured: list[str] = []
    _fake_trials(monkeypatch, measured)
    candidate = _candidate(tmp_path)
    space = SearchSpace(schemes=("fp32", "bf16"), dispatches=("gather",), attentions=("sdpa", "chunk_blocked"),
                        compiles=("eager", "default"))
    eager_only = SystemTuner(workload="decode:ctx=40", space=SearchSpace(**{**space.__dict__, "compiles": ("eager",)}),
                             settings=FAST, prior_path=tmp_path / "prior.json", compile_top_k=0, max_eager_trials=2)
    first = eager_only.run(candidate, 10)
    assert len(first) == 2 and measured == ["eager"] * 2  # the whole eager space
    state = json.loads(eager_only.state_path(candidate).read_text())
    assert state["stopped"] == state["eager_stopped"] == "eager budget: 2 trials"
    # The older states recorded only "stopped": the compile phase must reopen them too.
    del state["eager_stopped"]
    eager_only.state_path(candidate).write_text(json.dumps(state))

    compiling = SystemTuner(workload="decode:ctx=40", space=space, settings=FAST, prior_path=tmp_path / "prior.json",
                            compile_top_k=2, max_eager_trials=2)
    resumed = compiling.run(candidate, 10)
    assert resumed[:2] == first  # the eager trials are kept, not measured again
    assert measured == ["eager"] * 2 + ["default"] * 2  # exactly the two best eager configs compiled
    assert json.loads(compiling.state_path(candidate).read_text())["stopped"] == "compiled the top eager configs"
    assert compiling.run(candidate, 10) == resumed and len(measured) == 4


def test_eager_budget_is_validated():
    with pytest.raises(ValueError, match="max_eager_trials"):
        SystemTuner(max_eager_trials=0)


def test_cold_compiles_give_each_compiled_trial_a_fresh_process_and_empty_cache(tmp_path, monkeypatch):
    from pathlib import Path

    from sonar.systems import tuner as tuner_module
    from sonar.systems.trial import TrialResult

    in_process: list[str] = []
    _fake_trials(monkeypatch, in_process)
    caches: list[tuple[str, bool, bool]] = []

    def fake_isolated(candidate, source, config, workload, settings, *, incumbent, extra_env=None):
        cache = Path(extra_env["TORCHINDUCTOR_CACHE_DIR"])
        assert Path(extra_env["TRITON_CACHE_DIR"]).parent == cache
        caches.append((config.compile, cache.is_dir() and not any(cache.iterdir()), cache))
        return TrialResult(config=config.to_dict(), samples=[0.5], latency_s=0.5, quality_delta=0.0, seconds=30.0)

    monkeypatch.setattr(tuner_module, "run_trial_isolated", fake_isolated)
    space = SearchSpace(schemes=("fp32",), dispatches=("gather",), attentions=("sdpa", "chunk_blocked"),
                        compiles=("eager", "default"))
    tuner = SystemTuner(workload="decode:ctx=40", space=space, settings=FAST, prior_path=tmp_path / "prior.json",
                        compile_top_k=2, cold_compiles=True)
    curve = tuner.run(_candidate(tmp_path), 10)
    assert in_process == ["eager"] * 2  # both eager configs of the space (not the default, outside it), here
    assert [(mode, empty) for mode, empty, _ in caches] == [("default", True), ("default", True)]
    assert caches[0][2] != caches[1][2] and not any(cache.exists() for _, _, cache in caches)
    assert curve[-1].seconds == pytest.approx(2 * 1.0 + 2 * 30.0, abs=1.0)


def test_the_eager_sweep_leaves_room_for_its_compiled_finalists_within_a_trial_budget():
    from sonar.systems.tuner import eager_trial_budget

    compiling = SearchSpace(compiles=("eager", "default"))
    assert eager_trial_budget(12, 2, compiling) == 10
    assert eager_trial_budget(2, 2, compiling) == 1  # the default config is always measured
    assert eager_trial_budget(12, 2, SearchSpace()) is None  # nothing to compile
    assert eager_trial_budget(None, 2, compiling) is None and eager_trial_budget(12, 0, compiling) is None
    assert SystemTuner(space=compiling, max_trials=12).max_eager_trials == 10  # compile_top_k defaults to 2


def test_a_default_outside_the_space_is_never_measured(tmp_path, monkeypatch):
    measured: list[str] = []
    _fake_trials(monkeypatch, measured)
    space = SearchSpace(schemes=("fp32",), dispatches=("gather", "dense"), attentions=("sdpa", "chunk_blocked"))
    configs = space.configs(preset("debug"), workload_kind="decode")
    assert SystemConfig() not in configs
    first = propose(configs, {"points": [], "prior_snapshot": [], "run_records": []}, workload_kind="decode",
                    quality_limit=0.01, compile_top_k=0)
    assert first == SystemConfig(moe_dispatch="gather")  # one knob from the default; the first such in order
    curve = SystemTuner(workload="decode:ctx=40", space=space, settings=FAST, prior_path=tmp_path / "prior.json",
                        compile_top_k=0).run(_candidate(tmp_path), 10)
    assert len(curve) == len(configs) == 4 and curve[0].config == first.to_dict()
    assert all(SystemConfig.from_dict(p.config) in configs for p in curve)
    # Prior records from this run are relative to that first config, and say so.
    records = json.loads((tmp_path / "prior.json").read_text())["records"]
    assert all(r["reference"] == first.to_dict() for r in records) and records[0]["log_ratio"] == 0.0


def test_a_space_without_eager_configs_still_tunes_its_compiled_ones(monkeypatch):
    space = SearchSpace(schemes=("fp32",), dispatches=("gather",), attentions=("sdpa", "chunk_blocked"),
                        compiles=("default",))
    configs = space.configs(preset("debug"), workload_kind="decode")
    point = {"config": configs[0].to_dict(), "failure": None, "quality_delta": 0.0, "latency_s": 1.0}
    state = {"points": [point], "prior_snapshot": [], "run_records": []}
    assert propose(configs, state, workload_kind="decode", quality_limit=0.01, compile_top_k=2) == configs[1]


def test_a_prior_written_before_the_sdpa_backend_knob_still_loads(tmp_path):
    import json

    from sonar.systems.config import SystemConfig
    from sonar.systems.prior import PriorStore

    config = SystemConfig().to_dict()
    del config["sdpa_backend"]
    path = tmp_path / "prior.json"
    path.write_text(json.dumps({"version": 1, "records": [
        {"workload_kind": "decode", "config": config, "reference": None, "log_ratio": 0.5}]}))
    (record,) = PriorStore(path).load()
    assert SystemConfig.from_dict(record["config"]) == SystemConfig()
    config["warp_size"] = 32  # an unknown knob is still refused, not guessed
    del config["attention"]
    path.write_text(json.dumps({"version": 1, "records": [
        {"workload_kind": "decode", "config": config, "reference": None, "log_ratio": 0.5}]}))
    with pytest.raises(Exception, match="not a readable systems prior"):
        PriorStore(path).load()
