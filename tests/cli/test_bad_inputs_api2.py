"""Bad input to the public Python API's settings and entry points (model, train, posttrain, plan, systems)
and to the search spec's architecture space and objective (the contract each case must meet:
bad_input_cases.py). Each case was a TypeError, AttributeError or RuntimeError from deep inside, a
silent acceptance or a search that ran its whole budget for nothing before it was fixed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from bad_input_cases import api, check_case, cli, params

import sonar
from sonar.model import KVCache, RopeScaling
from sonar.plan import GPUS, GpuType, get_format, load_model_spec, parse_gpu, plan_deployment
from sonar.posttrain.dpo import DPOConfig
from sonar.posttrain.evaluate import EvalConfig
from sonar.posttrain.pipeline import PipelineConfig
from sonar.posttrain.rl import RLConfig
from sonar.posttrain.sft import SFTConfig
from sonar.posttrain.tuning import TuningConfig
from sonar.systems import MeasureSettings, SearchSpace, SystemTuner, Workload
from sonar.train import TrainConfig


def _config(**changes):
    return lambda _: sonar.ModelConfig(**{**dataclasses.asdict(sonar.preset("debug")), **changes})


def _make(cls, **kw):
    return lambda _: cls(**kw)


def _plan(**kw):
    return lambda _: plan_deployment(**{"spec": load_model_spec("debug"), "weights": "bf16",
                                        "gpu": GPUS["h100-80gb"], **kw})


def _search(changes: dict):
    return lambda sb: ["search", sb.spec(changes), "--out", "out"]


SETTINGS = [
    api("model-config-rope-theta-none", _config(rope_theta=None), r"rope_theta=None: must be a number"),
    api("model-config-rms-norm-eps-none", _config(rms_norm_eps=None), r"rms_norm_eps=None"),
    api("rope-scaling-positions-fraction", _make(RopeScaling, original_max_position_embeddings=8192.5),
        r"rope_scaling\.original_max_position_embeddings=8192\.5: must be an integer"),
    api("train-config-lr-word", _make(TrainConfig, lr="3e-4"), r"lr='3e-4': must be a number"),
    api("train-config-lr-inf", _make(TrainConfig, lr=float("inf")), r"lr=inf: must be finite"),
    api("train-config-lr-huge", _make(TrainConfig, lr=1e30), r"lr=1e\+30: must be at most 10"),
    api("train-config-beta1-none", _make(TrainConfig, beta1=None), r"beta1=None: must be a number"),
    api("train-config-threads-word", _make(TrainConfig, threads="2"), r"threads='2': must be an integer"),
    api("train-config-batch-tensor", _make(TrainConfig, batch_size=torch.tensor(4)), r"batch_size=tensor"),
    api("train-config-warmup-bool", _make(TrainConfig, warmup_steps=True), r"warmup_steps=True"),
    api("train-config-moe-dispatch-list", _make(TrainConfig, moe_dispatch=["grouped"]), r"moe_dispatch=\['grouped'\]"),
    api("train-config-eps-zero", _make(TrainConfig, eps=0.0), r"eps=0\.0: must be > 0"),
    api("train-config-data-seed-negative", _make(TrainConfig, data_seed=-1), r"data_seed=-1"),
    api("train-config-data-dict", _make(TrainConfig, data={}), r"data=\{\}: must be a DataConfig"),
    api("sft-config-steps-word", _make(SFTConfig, steps="10"), r"steps='10': must be an integer"),
    api("sft-config-steps-fraction", _make(SFTConfig, steps=1.5), r"steps=1\.5: must be an integer"),
    api("sft-config-lr-bool", _make(SFTConfig, lr=True), r"lr=True: must be a number"),
    api("rl-config-tasks-list-of-ints", _make(RLConfig, tasks=[1]), r"tasks=\[1\]: holds 1"),
    api("dpo-config-length-normalize-word", _make(DPOConfig, length_normalize="yes"), r"length_normalize='yes'"),
    api("eval-config-per-cell-none", _make(EvalConfig, per_cell=None), r"per_cell=None"),
    api("pipeline-config-sft-dict", _make(PipelineConfig, sft={}), r"sft=\{\}: must be a SFTConfig"),
    api("pipeline-config-seed-negative", _make(PipelineConfig, seed=-1), r"seed=-1"),
    api("pipeline-config-per-cell-zero", _make(PipelineConfig, sft_per_cell=0), r"sft_per_cell=0"),
    api("pipeline-config-levels-empty", _make(PipelineConfig, sft_levels=()), r"sft_levels=\(\)"),
    api("tuning-config-pipeline-none", _make(TuningConfig, pipeline=None), r"pipeline=None"),
    api("tuning-config-rl-lrs-words", _make(TuningConfig, rl_lrs=("1e-4",)), r"rl_lrs=.*must be a list of numbers"),
    api("measure-settings-warmup-huge", _make(MeasureSettings, warmup=10 ** 18), r"warmup=10+: must be at most"),
    api("measure-settings-racing-delta-zero", _make(MeasureSettings, racing_delta=0.0), r"racing_delta=0\.0"),
    api("measure-settings-racing-factor-below-one", _make(MeasureSettings, racing_factor=0.5), r"racing_factor=0\.5"),
    api("measure-settings-blowup-negative", _make(MeasureSettings, blowup=-1.0), r"blowup=-1\.0"),
    api("measure-settings-repeats-word", _make(MeasureSettings, min_repeats="5"), r"min_repeats='5'"),
    api("measure-settings-seed-negative", _make(MeasureSettings, seed=-1), r"seed=-1"),
    api("workload-batch-fraction", _make(Workload, kind="decode", batch=1.5), r"batch=1\.5: must be an integer"),
    api("workload-context-nan", _make(Workload, kind="decode", context=float("nan")), r"context=nan"),
    api("workload-parse-not-text", lambda _: Workload.parse(256), r"workload 256: must be text"),
    api("search-space-threads-words", _make(SearchSpace, threads=("1",)), r"threads=.*holds '1'"),
    api("search-space-batch-sizes-empty", _make(SearchSpace, batch_sizes=()), r"batch_sizes is empty"),
    api("search-space-target-unknown", _make(SearchSpace, target="tpu"), r"target='tpu'"),
    api("gpu-type-memory-word", _make(GpuType, name="g", memory_bytes="80GB"), r"memory_bytes='80GB'"),
    api("gpu-type-memory-huge", _make(GpuType, name="g", memory_bytes=10 ** 30), r"memory_bytes=10+"),
    api("gpu-type-name-empty", _make(GpuType, name=" ", memory_bytes=10 ** 9), r"name=' '"),
]

ENTRY_POINTS = [
    api("plan-spec-word", _plan(spec="scout"), r"spec='scout': must be a ModelSpec"),
    api("plan-gpu-word", _plan(gpu="h100-80gb"), r"gpu='h100-80gb': must be a GpuType"),
    api("plan-weights-list", _plan(weights=["bf16"]), r"weight format \['bf16'\]"),
    api("plan-kv-dtype-list", _plan(kv_dtype=["bf16"]), r"KV cache dtype \['bf16'\]"),
    api("plan-reserve-word", _plan(reserve_gb="2"), r"--reserve-gb '2': must be a number"),
    api("plan-get-format-dict", lambda _: get_format({}), r"weight format \{\}"),
    api("plan-parse-gpu-number", lambda _: parse_gpu(80), r"GPU 80: must be a GPU name"),
    api("plan-load-model-spec-none", lambda _: load_model_spec(None), r"model=None"),
    api("tuner-patience-word", lambda _: SystemTuner(patience="8"), r"patience='8'"),
    api("tuner-min-trials-negative", lambda _: SystemTuner(min_trials=-1), r"min_trials=-1"),
    api("tuner-min-gain-nan", lambda _: SystemTuner(min_gain=float("nan")), r"min_gain=nan"),
    api("tuner-isolate-word", lambda _: SystemTuner(isolate="no"), r"isolate='no'"),
    api("tuner-space-dict", lambda _: SystemTuner(space={}), r"space=\{\}: must be a SearchSpace"),
    api("tuner-settings-word", lambda _: SystemTuner(settings="fast"), r"settings='fast'"),
    api("tuner-workload-number", lambda _: SystemTuner(workload=256), r"workload=256"),
    api("tuner-max-eager-trials-zero", lambda _: SystemTuner(max_eager_trials=0), r"max_eager_trials=0"),
    api("cache-model-word", lambda _: KVCache.allocate("model", batch=1, max_len=8), r"model: expected"),
    api("cache-batch-huge", lambda _: KVCache.allocate(sonar.build_model(sonar.preset("debug")), batch=10 ** 18,
                                                       max_len=8), r"batch=10+, max_len=8: the cache needs"),
]

SPEC = [
    cli("search-spec-step-with-choices", _search({"arch.hidden_size": {"choices": [32, 64], "step": 2}}),
        r"arch\.hidden_size\.step: applies to an int or float range only"),
    cli("search-spec-log-with-choices", _search({"arch.hidden_size": {"choices": [32, 64], "log": True}}),
        r"arch\.hidden_size\.log: applies to an int or float range only"),
    cli("search-spec-rules-zero", _search({"arch.rules": 0}), r"arch\.rules: expected a list"),
    cli("search-spec-rules-empty-text", _search({"arch.rules": ""}), r"arch\.rules: expected a list"),
    cli("search-spec-weights-empty-list", _search({"objective.weights": []}), r"objective\.weights: expected"),
    cli("search-spec-fail-empty-list", _search({"synthetic.fail": []}), r"synthetic\.fail: expected a mapping"),
    cli("search-spec-resources-zero", _search({"targets": [{"name": "cpu", "resources": 0}]}),
        r"targets\[0\]\.resources: expected a mapping"),
    cli("search-spec-memory-below-every-candidate", _search({"objective.memory_bytes": 1.5}),
        r"objective\.memory_bytes: 1\.5 B is below every candidate's weights"),
]

CASES = SETTINGS + ENTRY_POINTS + SPEC


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def test_numpy_numbers_are_stored_as_python_numbers():
    config = SFTConfig(steps=np.int64(3), lr=np.float32(0.5))
    assert type(config.steps) is int and type(config.lr) is float and config.steps == 3


def test_a_memory_bound_some_candidate_meets_is_accepted():
    from bad_input_sandbox import spec_with

    from sonar.search.spec import parse_spec

    assert parse_spec(spec_with({"objective.memory_bytes": 1e6})).objective.memory_bytes == 1e6
