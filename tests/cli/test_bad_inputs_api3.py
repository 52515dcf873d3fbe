"""Bad input to the public functions below the top-level API (FLOP accounting, the schedule, layer plans,
the trainer, the built-in tasks, imaging), to the system knobs' names, and to the model's forward and
generate beyond the ids (the contract each case must meet: bad_input_cases.py). Each case was a TypeError or
AttributeError from deep inside, a RuntimeError from torch, a run of minutes or a silent acceptance before it
was fixed."""

from __future__ import annotations

import functools
import math
import time

import pytest
import torch
from bad_input_cases import api, check_case, params
from typer.testing import CliRunner

import sonar
from sonar.cli import app
from sonar.imaging import (
    ImageProcessingConfig,
    best_canvas,
    fit_without_distortion,
    preprocess_image,
    preprocess_images,
    supported_grids,
)
from sonar.model import KVCache, layer_plans
from sonar.model.params import count_parameters
from sonar.posttrain.tasks import generate_examples
from sonar.systems import SearchSpace, SystemConfig, check
from sonar.train import CorpusTrainer, TrainConfig, fit_vocab, learning_rate, train_flops_per_token
from sonar.train.flops import mean_keys_attended

DEBUG = sonar.preset("debug")


@functools.lru_cache(maxsize=1)
def _model():
    return sonar.build_model(DEBUG, seed=0).eval()


PROMPT = torch.tensor([[1, 2, 3]])
NAN = float("nan")


def _call(fn, *args, **kw):
    return lambda _: fn(*args, **kw)


def _flops(config=DEBUG, seq_len=128):
    return _call(train_flops_per_token, config, seq_len)


def _lr(step=0, config=None):
    return lambda _: learning_rate(step, TrainConfig() if config is None else config)


def _examples(**kw):
    return _call(generate_examples, **{"task": "addition", "level": 1, "count": 3, "split": "train", "seed": 0, **kw})


def _forward(ids=PROMPT, **kw):
    return lambda _: _model()(ids, **kw)


def _generate(**kw):
    return lambda _: sonar.generate(_model(), PROMPT, **{"max_new_tokens": 1, **kw})


def _cache_holding(positions):
    cache = KVCache.allocate(_model(), batch=1, max_len=8)
    cache.next_position = positions  # as generate leaves it after a prompt of that many tokens
    return cache


FUNCTIONS = [
    api("flops-config-dict", _flops(config={}), r"config: expected a ModelConfig, got dict"),
    api("flops-config-none", _flops(config=None), r"config: expected a ModelConfig, got NoneType"),
    api("flops-config-preset-name", _flops(config="debug"), r"config: expected a ModelConfig, got str; for a preset "
                                                            r"use preset\('debug'\)"),
    # ran for more than 15 s (a Python loop over every position, per chunked layer)
    api("flops-seq-len-huge", _flops(seq_len=10 ** 18), r"seq_len=1000000000000000000: must be an integer from 1 to "
                                                        r"4,294,967,296"),
    api("flops-seq-len-zero", _flops(seq_len=0), r"seq_len=0: must be an integer"),  # was accepted
    api("flops-seq-len-negative", _flops(seq_len=-5), r"seq_len=-5"),  # was accepted
    api("flops-seq-len-nan", _flops(seq_len=NAN), r"seq_len=nan"),
    api("flops-seq-len-bool", _flops(seq_len=True), r"seq_len=True"),  # was read as 1
    api("flops-seq-len-word", _flops(seq_len="128"), r"seq_len='128'"),
    api("flops-seq-len-fraction", _flops(seq_len=128.0), r"seq_len=128\.0"),
    api("lr-config-dict", _lr(config={}), r"config: expected a TrainConfig, got dict"),
    api("lr-config-none", lambda _: learning_rate(0, None), r"config: expected a TrainConfig, got NoneType"),
    api("lr-step-negative", _lr(step=-5), r"step=-5: must be an integer >= 0"),  # was a negative rate
    api("lr-step-nan", _lr(step=NAN), r"step=nan"),  # was a rate
    api("lr-step-bool", _lr(step=True), r"step=True"),
    api("lr-step-fraction", _lr(step=1.5), r"step=1\.5"),  # was a rate between two steps
    api("lr-step-word", _lr(step="0"), r"step='0'"),
    api("layer-plans-dict", _call(layer_plans, {}), r"config: expected a ModelConfig, got dict"),
    api("layer-plans-none", _call(layer_plans, None), r"config: expected a ModelConfig, got NoneType"),
    api("layer-plans-preset-name", _call(layer_plans, "debug"), r"config: expected a ModelConfig, got str"),
    api("count-parameters-dict", _call(count_parameters, {}), r"config: expected a ModelConfig, got dict"),
    api("fit-vocab-config-dict", _call(fit_vocab, {}, None), r"config: expected a ModelConfig, got dict"),
    api("fit-vocab-data-none", _call(fit_vocab, DEBUG, None), r"data: expected a TokenizedCorpus.*got NoneType"),
    # each was accepted and failed at the first run, or never (a bad peak only skewed the reported MFU)
    api("trainer-config-dict", _call(CorpusTrainer, {}), r"config: expected a TrainConfig or None, got dict"),
    api("trainer-config-preset-name", _call(CorpusTrainer, "tiny"), r"config: expected a TrainConfig or None, got str"),
    api("trainer-data-word", _call(CorpusTrainer, data="corpus.txt"), r"data: expected a TokenizedCorpus"),
    api("trainer-cache-dir-number", _call(CorpusTrainer, cache_dir=5), r"cache_dir=5: must be a directory path"),
    api("trainer-peak-negative", _call(CorpusTrainer, peak_flops=-1.0), r"peak_flops=-1\.0: must be a finite number"),
    api("trainer-peak-nan", _call(CorpusTrainer, peak_flops=NAN), r"peak_flops=nan"),
    api("trainer-peak-bool", _call(CorpusTrainer, peak_flops=True), r"peak_flops=True"),
    api("trainer-peak-word", _call(CorpusTrainer, peak_flops="1e12"), r"peak_flops='1e12'"),
    api("trainer-on-step-word", _call(CorpusTrainer, on_step="print"), r"on_step='print': must be a function"),
    api("examples-task-none", _examples(task=None), r"task=None: choose one of \['addition'"),
    api("examples-count-fraction", _examples(count=2.5), r"count=2\.5 examples per"),  # was a TypeError
    api("examples-count-bool", _examples(count=True), r"count=True examples per"),
    api("examples-count-word", _examples(count="3"), r"count='3' examples per"),
    # each drew prompts: the seed is only text in the generator's key ('0' drew what 0 draws)
    api("examples-seed-negative", _examples(seed=-1), r"seed=-1: must be between 0 and"),
    api("examples-seed-word", _examples(seed="0"), r"seed='0': must be an integer"),
    api("examples-seed-fraction", _examples(seed=0.5), r"seed=0\.5: must be an integer"),
    api("examples-seed-nan", _examples(seed=NAN), r"seed=nan: must be an integer"),
]

SYSTEMS = [  # unknown names were accepted when built: a config failed later, a space came out silently empty
    api("system-config-dispatch-unknown", _call(SystemConfig, moe_dispatch="grouped_fast"),
        r"moe_dispatch='grouped_fast': unknown; known: dense, gather, grouped, packed_gather, packed_grouped, "
        r"packed_grouped_mm$"),
    api("system-config-attention-unknown", _call(SystemConfig, attention="flash"),
        r"attention='flash': unknown; known: chunk_blocked, eager, sdpa$"),
    api("system-config-from-dict-list", lambda _: SystemConfig.from_dict([]), r"dict of system knobs.*got list"),
    api("search-space-dispatch-unknown", _call(SearchSpace, dispatches=("grouped", "grouped_fast")),
        r"SearchSpace\.dispatches: moe_dispatch='grouped_fast': unknown; known: dense, gather, grouped"),
    api("search-space-attention-unknown", _call(SearchSpace, attentions=("flash",)),
        r"SearchSpace\.attentions: attention='flash': unknown; known: chunk_blocked, eager, sdpa"),
    api("search-space-sdpa-backend-unknown", _call(SearchSpace, sdpa_backends=("fast",)),
        r"SearchSpace\.sdpa_backends: sdpa_backend='fast'"),
    api("search-space-threads-zero", _call(SearchSpace, threads=(0,)), r"SearchSpace\.threads: threads=0"),
    api("search-space-batch-zero", _call(SearchSpace, batch_sizes=(0,)), r"SearchSpace\.batch_sizes: batch_size=0"),
    api("search-space-group-size-odd", _call(SearchSpace, int4_group_sizes=(7,)),
        r"SearchSpace\.int4_group_sizes: int4_group_size=7"),
    api("search-space-configs-dict", lambda _: SearchSpace().configs({}), r"model: expected a ModelConfig, got dict"),
    api("search-space-configs-kind-typo", lambda _: SearchSpace().configs(DEBUG, workload_kind="decod"),
        r"workload_kind='decod': must be one of"),  # was read as a latency workload
    api("check-config-dict", _call(check, {}, DEBUG), r"config: expected a SystemConfig, got dict"),
    api("check-model-none", _call(check, SystemConfig(), None), r"model: expected a ModelConfig, got NoneType"),
]

MODEL = [
    api("forward-positions-wrong-length", _forward(positions=torch.arange(5)),
        r"positions has shape \(5,\): expected \(3,\)"),  # was a RuntimeError from the rotation
    api("forward-positions-list", _forward(positions=[0, 1, 2]), r"positions is a list"),
    api("forward-positions-float", _forward(positions=torch.arange(3.0)), r"positions have dtype torch\.float32"),
    api("forward-cache-dict", _forward(cache={}), r"cache is a dict: pass a KVCache"),
    api("forward-cache-continued-without-positions", lambda _: _model()(PROMPT, cache=_cache_holding(3)),
        r"the cache already holds 3 positions: pass `positions`"),  # a ValueError, not a UserError
    api("forward-router-logits-word", _forward(output_router_logits="no"), r"output_router_logits='no'"),
    api("forward-embeds-float64", _forward(inputs_embeds=torch.zeros(1, 3, 64, dtype=torch.float64)),
        r"inputs_embeds have dtype torch\.float64, wider than the model's torch\.float32"),
    api("gen-embeds-float64", _generate(inputs_embeds=torch.zeros(1, 3, 64, dtype=torch.float64)),
        r"inputs_embeds have dtype torch\.float64"),
    api("gen-embeds-nan", _generate(inputs_embeds=torch.full((1, 3, 64), NAN)),  # was token 0, silently
        r"inputs_embeds hold NaN or infinity"),
    api("config-replace-unknown-field", lambda _: DEBUG.replace(hidden=64),
        r"unknown ModelConfig fields: \['hidden'\]"),  # was a TypeError from dataclasses naming __init__
    # a list has no keys: from_dict([]) built the default config
    api("config-from-dict-list", lambda _: sonar.ModelConfig.from_dict([]), r"from_dict: expected a dict.*got list"),
]

IMAGING = [
    api("grids-max-tiles-huge", _call(supported_grids, 10 ** 6), r"max_tiles=1000000: must be an integer between 1 "
                                                                  r"and 1,024"),  # ran for minutes
    api("grids-max-tiles-word", _call(supported_grids, "4"), r"max_tiles='4'"),
    api("grids-max-tiles-fraction", _call(supported_grids, 4.5), r"max_tiles=4\.5"),
    api("canvas-image-empty", _call(best_canvas, (0, 0), 336, 16), r"image_hw=\(0, 0\)"),  # chose (1, 1)
    api("canvas-image-text", _call(best_canvas, "427x640", 336, 16), r"image_hw='427x640'"),
    api("canvas-tile-zero", _call(best_canvas, (427, 640), 0, 16), r"tile=0"),  # chose (1, 1)
    api("fit-image-empty", _call(fit_without_distortion, (0, 10), (336, 336)), r"image_hw=\(0, 10\)"),
    api("fit-target-empty", _call(fit_without_distortion, (10, 10), (0, 336)), r"target_hw=\(0, 336\)"),
    api("preprocess-config-dict", _call(preprocess_image, torch.zeros(3, 8, 8, dtype=torch.uint8), {}),
        r"config: expected an ImageProcessingConfig, got dict"),
    api("preprocess-images-none", _call(preprocess_images, None), r"images is a NoneType"),
]

CASES = FUNCTIONS + SYSTEMS + MODEL + IMAGING


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def test_flops_at_any_length_are_the_loops_sum_in_closed_form():
    def looped(seq_len, chunk):
        return sum(t % chunk + 1 for t in range(seq_len)) / seq_len

    for seq_len, chunk in [(1, 1), (7, 3), (8192, 8192), (8193, 8192), (10_000, 333), (4096, 1)]:
        assert mean_keys_attended(seq_len, chunk) == looped(seq_len, chunk)
    start = time.perf_counter()
    long = train_flops_per_token(sonar.preset("scout"), 10 ** 7)  # Scout's whole context
    assert time.perf_counter() - start < 1.0 and math.isfinite(long) and long > 0


def test_a_step_far_past_the_horizon_is_the_floor():
    for schedule in ("cosine", "wsd"):
        config = TrainConfig(lr=1.0, min_lr_ratio=0.1, warmup_steps=2, schedule_steps=10, schedule=schedule)
        assert learning_rate(10 ** 400, config) == learning_rate(11, config) == pytest.approx(0.1)


def test_registered_names_and_a_batch_of_images_still_pass():
    assert SystemConfig(moe_dispatch="packed_grouped_mm", attention="sdpa").moe_dispatch == "packed_grouped_mm"
    assert len(preprocess_images(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), ImageProcessingConfig())) == 2
    bf16 = _model()(PROMPT, inputs_embeds=torch.zeros(1, 3, 64, dtype=torch.bfloat16))  # narrower: promoted
    assert bf16.logits.dtype == torch.float32


@pytest.mark.parametrize("value, batch", [(" 5 ", 5), ("5\n", 5), ("+5", 5), ("1_0", 10), ("5.0", 5)])
def test_an_int_option_reads_what_python_reads_as_that_number(value, batch):
    """typer 0.29 parses int options with pydantic (lax): surrounding blanks, a sign, an underscore and a
    zero fraction are the number they spell in Python, never another one."""
    result = CliRunner().invoke(app, ["plan", "--model", "debug", "--batch", value])
    assert result.exit_code == 0, result.output
    assert f"max context for batch {batch}:" in result.output


@pytest.mark.parametrize("value", ["\uff15", "\u0663", "5.5", "1e1", " "])
def test_an_int_option_refuses_other_scripts_digits_in_one_line(value):
    """Python's int() reads '５' and '٣' as 5 and 3; the option refuses them, one line, no traceback."""
    result = CliRunner().invoke(app, ["plan", "--model", "debug", "--batch", value])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Invalid value for '--batch'"), result.stderr
