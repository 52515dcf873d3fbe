"""Bad input to the Python API's model, generation and checkpoint calls, tried as a new user would (the
contract each case must meet: bad_input_cases.py). Each case was a traceback from deep in torch, a
silent acceptance or a wrong message before it was fixed."""

from __future__ import annotations

import dataclasses
import functools

import pytest
import torch
from bad_input_cases import api, check_case, params

import sonar
from sonar.checkpoint import load_multimodal, save_multimodal
from sonar.model import KVCache


@functools.lru_cache(maxsize=1)
def _model():
    return sonar.build_model(sonar.preset("debug"), seed=0).eval()


@functools.lru_cache(maxsize=1)
def _multimodal():
    from vision_cases import tiny_model

    return tiny_model()


PROMPT = torch.tensor([[1, 2, 3]])


def _generate(ids=PROMPT, model=_model, **kw):
    return lambda _: sonar.generate(model(), ids, **{"max_new_tokens": 1, **kw})


def _forward(ids, **kw):
    return lambda _: _model()(ids, **kw)


def _config(**changes):
    return lambda _: sonar.ModelConfig(**{**dataclasses.asdict(sonar.preset("debug")), **changes})


def _save(**kw):
    return lambda out: sonar.save_pretrained(_model(), out, **kw)


def _out(sb):
    return sb.root / "out"


def _ckpt(sb):
    return sb.root / sb.checkpoint()


GENERATE = [
    api("gen-temperature-nan", _generate(temperature=float("nan")), r"temperature=nan"),
    api("gen-temperature-inf", _generate(temperature=float("inf")), r"temperature=inf"),
    api("gen-temperature-word", _generate(temperature="hot"), r"temperature='hot'"),
    api("gen-temperature-bool", _generate(temperature=True), r"temperature=True"),
    api("gen-top-k-fraction", _generate(temperature=1.0, top_k=1.5), r"top_k=1\.5"),
    api("gen-top-k-bool", _generate(temperature=1.0, top_k=True), r"top_k=True"),
    api("gen-top-k-word", _generate(temperature=1.0, top_k="3"), r"top_k='3'"),
    api("gen-top-p-word", _generate(temperature=1.0, top_p="x"), r"top_p='x'"),
    api("gen-top-p-bool", _generate(temperature=1.0, top_p=True), r"top_p=True"),
    api("gen-max-new-fraction", _generate(max_new_tokens=1.5), r"max_new_tokens=1\.5"),
    api("gen-max-new-word", _generate(max_new_tokens="3"), r"max_new_tokens='3'"),
    api("gen-max-new-none", _generate(max_new_tokens=None), r"max_new_tokens=None"),
    api("gen-max-new-bool", _generate(max_new_tokens=True), r"max_new_tokens=True"),
    api("gen-max-new-huge", _generate(max_new_tokens=10 ** 12), r"max_new_tokens=1,000,000,000,000.*"
                                                                   r"max_position_embeddings=4,096"),
    api("gen-max-new-past-positions", _generate(max_new_tokens=4094),
        r"max_new_tokens=4,094.*3 tokens.*max_position_embeddings=4,096.*at most 4,093"),
    api("gen-prompt-past-positions", _generate(torch.ones(1, 5000, dtype=torch.long), max_new_tokens=0),
        r"5,000 tokens.*max_position_embeddings=4,096"),
    api("gen-stop-word", _generate(stop_tokens="ab"), r"stop_tokens='ab'"),
    api("gen-stop-int", _generate(stop_tokens=5), r"stop_tokens=5.*list"),
    api("gen-stop-negative", _generate(stop_tokens=[-1]), r"stop_tokens holds -1.*vocab"),
    api("gen-stop-past-vocab", _generate(stop_tokens=[10 ** 9]), r"stop_tokens holds 1000000000.*vocab"),
    api("gen-stop-fraction", _generate(stop_tokens=[1.5]), r"stop_tokens holds 1\.5"),
    api("gen-model-word", lambda _: sonar.generate("model", PROMPT), r"model.*got str"),
    api("gen-model-none", lambda _: sonar.generate(None, PROMPT), r"model.*got NoneType"),
    api("gen-embeds-wrong-width", _generate(inputs_embeds=torch.zeros(1, 3, 7)),
        r"inputs_embeds has shape \(1, 3, 7\): expected \(1, 3, 64\)"),
    api("gen-embeds-wrong-length", _generate(inputs_embeds=torch.zeros(1, 4, 64)),
        r"inputs_embeds has shape \(1, 4, 64\): expected \(1, 3, 64\)"),
    api("gen-embeds-list", _generate(inputs_embeds=[[0.0]]), r"inputs_embeds is a list"),
    api("gen-embeds-and-pixels", _generate(torch.tensor([[1, 2]]), model=_multimodal,
                                           inputs_embeds=torch.zeros(1, 2, 64), pixel_values=torch.zeros(1, 3, 56, 56)),
        r"pixel_values or inputs_embeds"),
    # Small integer dtypes overflowed in the vocabulary comparison: id 1 was called "outside the vocabulary".
    api("gen-ids-int8", _generate(PROMPT.to(torch.int8)), r"dtype torch\.int8: token ids must be torch\.int64"),
    api("gen-ids-uint8", _generate(PROMPT.to(torch.uint8)), r"dtype torch\.uint8: token ids must be torch\.int64"),
    api("gen-ids-int16", _generate(PROMPT.to(torch.int16)), r"dtype torch\.int16"),
    api("gen-use-cache-word", _generate(use_cache="no"), r"use_cache='no'"),
]

FORWARD = [  # model(input_ids), as the README shows it
    api("forward-float-ids", _forward(torch.tensor([[1.5]])), r"dtype torch\.float32: token ids must be integers"),
    api("forward-past-vocab", _forward(torch.tensor([[1, 10 ** 6]])), r"input_ids\[0, 1\] = 1000000.*vocab"),
    api("forward-negative-id", _forward(torch.tensor([[-1]])), r"input_ids\[0, 0\] = -1.*vocab"),
    api("forward-1d", _forward(torch.tensor([1, 2])), r"input_ids.*\[batch, length\].*shape \(2,\)"),
    api("forward-empty", _forward(torch.ones(1, 0, dtype=torch.long)), r"input_ids.*shape \(1, 0\)"),
    api("forward-list", _forward([[1, 2]]), r"input_ids is a list"),
    api("forward-int8", _forward(PROMPT.to(torch.int8)), r"dtype torch\.int8"),
    api("forward-embeds-wrong-width", _forward(PROMPT, inputs_embeds=torch.zeros(1, 3, 7)), r"inputs_embeds"),
]

CONFIG = [
    api("config-initializer-range-negative", _config(initializer_range=-1), r"initializer_range=-1: must be >= 0"),
    api("config-router-aux-loss-negative", _config(router_aux_loss_coef=-1.0), r"router_aux_loss_coef=-1\.0"),
    api("config-bos-negative", _config(bos_token_id=-5), r"bos_token_id=-5"),
    api("config-pad-negative", _config(pad_token_id=-5), r"pad_token_id=-5"),
    api("cache-max-len-fraction", lambda _: KVCache.allocate(_model(), batch=1, max_len=1.5), r"max_len=1\.5"),
    api("cache-batch-zero", lambda _: KVCache.allocate(_model(), batch=0, max_len=8), r"batch=0"),
    api("cache-dtype-word", lambda _: KVCache.allocate(_model(), batch=1, max_len=8, dtype="bf16"), r"dtype='bf16'"),
]

CHECKPOINT = [
    api("load-dtype-word", lambda path: sonar.load_pretrained(path, dtype="bf16"), r"dtype='bf16'", setup=_ckpt),
    api("load-dtype-int", lambda path: sonar.load_pretrained(path, dtype=torch.int8), r"dtype=torch\.int8",
        setup=_ckpt),
    api("load-path-none", lambda _: sonar.load_pretrained(None), r"path=None"),
    api("load-path-empty", lambda _: sonar.load_pretrained(""), r"path=''"),
    api("load-multimodal-dtype-word", lambda path: load_multimodal(path, dtype="bf16"), r"dtype='bf16'",
        setup=_ckpt),
    api("save-path-none", lambda _: sonar.save_pretrained(_model(), None), r"path=None"),
    api("save-shard-zero", _save(max_shard_bytes=0), r"max_shard_bytes=0", setup=_out),
    api("save-shard-negative", _save(max_shard_bytes=-1), r"max_shard_bytes=-1", setup=_out),
    api("save-shard-fraction", _save(max_shard_bytes=1.5), r"max_shard_bytes=1\.5", setup=_out),
    api("save-overwrite-word", _save(overwrite="no"), r"overwrite='no'", setup=_out),
    api("save-multimodal-text-model", lambda out: save_multimodal(_model(), out), r"Llama4MultimodalModel",
        setup=_out),
]

CASES = GENERATE + FORWARD + CONFIG + CHECKPOINT


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


@pytest.mark.parametrize("temperature", [1e-300, 5e-324, 1e-30])
def test_a_tiny_temperature_samples_the_greedy_token(temperature):
    greedy = sonar.generate(_model(), PROMPT, max_new_tokens=6)
    assert torch.equal(sonar.generate(_model(), PROMPT, max_new_tokens=6, temperature=temperature, seed=0), greedy)
