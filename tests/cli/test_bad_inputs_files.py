"""Files a user hands to sonar, corrupted or hostile (the contract each case must meet: bad_input_cases.py):
checkpoints whose weights are NaN or float8, split over files that disagree, or not safetensors at
all; benchmark tables that unzip without end, are no regular file, or hold numbers past any float. Each case was a
traceback, a hang, a silently wrong result or a run that went ahead before it was fixed."""

from __future__ import annotations

import gzip
import json
import os
import pickle

import pytest
import torch
from bad_input_cases import api, check_case, cli, params
from bad_input_sandbox import Sandbox
from safetensors.torch import load_file, save_file

import sonar

WEIGHTS = "model.safetensors"


def _weights(edit):
    """A copy of the valid checkpoint whose tensors `edit(tensors, checkpoint_dir)` rewrites: it returns the
    tensors to save as model.safetensors, or None when it wrote the weight files itself."""
    def setup(sb: Sandbox):
        ckpt = sb.root / sb.checkpoint()
        tensors = {k: v.clone() for k, v in load_file(ckpt / WEIGHTS).items()}
        tensors = edit(tensors, ckpt)
        if tensors is not None:
            save_file(tensors, ckpt / WEIGHTS, metadata={"format": "pt"})
        return ckpt
    return setup


def _one_nan(tensors, _):
    tensors["model.norm.weight"][3] = float("nan")
    return tensors


def _float8(tensors, _):
    return {k: v.to(torch.float8_e4m3fn) for k, v in tensors.items()}


def _one_linear_float16(tensors, _):
    key = "model.layers.0.self_attn.q_proj.weight"
    tensors[key] = tensors[key].half()
    return tensors


def _two_files_disagree(tensors, ckpt):
    os.remove(ckpt / WEIGHTS)
    save_file(tensors, ckpt / "a.safetensors", metadata={"format": "pt"})
    save_file({k: v * 0 for k, v in tensors.items()}, ckpt / "b.safetensors", metadata={"format": "pt"})


def _pickle(tensors, ckpt):
    (ckpt / WEIGHTS).write_bytes(pickle.dumps({k: v.numpy() for k, v in tensors.items()}))


def _zip(tensors, ckpt):
    torch.save(tensors, ckpt / "weights.bin")
    os.replace(ckpt / "weights.bin", ckpt / WEIGHTS)


def _fifo(_, ckpt):
    os.remove(ckpt / WEIGHTS)
    os.mkfifo(ckpt / "w.safetensors")


def _load(ckpt):
    return sonar.load_pretrained(ckpt)


def _on_checkpoint(command, setup):
    def argv(sb: Sandbox) -> list[str]:
        ckpt = setup(sb)
        if command == "eval":
            return ["eval", "tasks", str(ckpt), "--tasks", "sort", "--levels", "1", "--per-cell", "1", "--threads", "1"]
        return ["tune", "--checkpoint", str(ckpt), "--trials", "1", "--workdir", "w", "--workload", "decode:ctx=8",
                "--no-isolate"]
    return argv


def _table(edit_line=None, *, name: str = "t.jsonl", raw: bytes | None = None):
    """A table file: the valid table with `edit_line(index, record)` applied to each record, or `raw` bytes."""
    def write(sb: Sandbox) -> str:
        if raw is not None:
            return sb.file(name, raw)
        lines = sb.artefacts.table.read_text().splitlines()
        text = "\n".join(edit_line(i, line) for i, line in enumerate(lines)) + "\n"
        return sb.file(name, gzip.compress(text.encode()) if name.endswith(".gz") else text)
    return write


def _replace_in(index: int, old: str, new: str):
    def edit(i: int, line: str) -> str:
        if i != index:
            return line
        assert old in line
        return line.replace(old, new, 1)
    return edit


def _candidate(i: int, line: str, **changes) -> str:
    if i != 1:
        return line
    record = json.loads(line)
    for key, value in changes.items():
        record[key] = value(record) if callable(value) else value
    return json.dumps(record)


def _all_seconds(value):
    def edit(record):
        return [dict(point, seconds=value) for point in record["curve"]]
    return lambda i, line: _candidate(i, line, curve=edit)


def _fifo_table(sb: Sandbox) -> str:
    os.mkfifo(sb.root / "t.jsonl")
    return "t.jsonl"


def _replay(table):
    return lambda sb: ["bench", "replay", table(sb), "--seeds", "1"]


NINES = "9" * 400


def _config_with(text_old: str, text_new: str):
    def setup(sb: Sandbox):
        ckpt = sb.root / sb.checkpoint()
        text = (ckpt / "config.json").read_text()
        assert text_old in text
        (ckpt / "config.json").write_text(text.replace(text_old, text_new, 1))
        return ckpt
    return setup


CASES = [
    # weights that loaded and then scored 0%, were timed, or failed deep in torch on the first forward
    api("api-load-weights-nan", _load, r"ckpt: tensor 'model\.norm\.weight' holds NaN or infinite values",
        setup=_weights(_one_nan)),
    cli("eval-tasks-weights-nan", _on_checkpoint("eval", _weights(_one_nan)),  # printed 'overall 0.0%', exit 0
        r"tensor 'model\.norm\.weight' holds NaN or infinite values"),
    api("api-load-weights-float8", _load, r"tensor 'model\.embed_tokens\.weight' has dtype torch\.float8_e4m3fn, "
        r"expected a floating-point dtype \(float32, bfloat16, float16, float64\)", setup=_weights(_float8)),
    cli("tune-checkpoint-weights-float8", _on_checkpoint("tune", _weights(_float8)),  # tuned and wrote a curve
        r"has dtype torch\.float8_e4m3fn"),
    # weight files that are not what their name says, or disagree
    api("api-load-two-weight-files-disagree", _load,  # the later file's copy silently won
        r"ckpt: tensor '[\w.]+' is in two weight files, a\.safetensors and b\.safetensors; keep one copy",
        setup=_weights(_two_files_disagree)),
    cli("tune-checkpoint-two-weight-files-disagree", _on_checkpoint("tune", _weights(_two_files_disagree)),
        r"is in two weight files, a\.safetensors and b\.safetensors"),
    api("api-load-weights-pickle", _load, r"model\.safetensors: not a readable safetensors file "
        r"\(it looks like a Python pickle", setup=_weights(_pickle)),
    api("api-load-weights-torch-save-zip", _load,
        r"model\.safetensors: not a readable safetensors file \(it looks like a zip archive", setup=_weights(_zip)),
    api("api-load-weights-fifo", _load, r"ckpt: no safetensors weights found", setup=_weights(_fifo)),  # hung
    # numbers past a float in a config.json: an OverflowError traceback
    api("api-load-config-int-past-64-bits", _load,
        r"config\.json: invalid JSON \(integer 999999999999\.\.\.\(400 digits\) is out of range \(at most 64 bits\)\)",
        setup=_config_with('"vocab_size": 512', f'"vocab_size": {NINES}')),
    cli("plan-config-int-past-64-bits", lambda sb: ["plan", "--model", str(_config_with(
        '"hidden_size": 64', f'"hidden_size": {NINES}')(sb))], r"config\.json is not valid JSON \(integer 9+\.\.\."),
    # a config.json missing a size field: sonar's own small default stood in and the plan sized a toy model
    cli("plan-config-without-sizes", lambda sb: ["plan", "--model", sb.file("c/config.json", json.dumps(
        {"model_type": "llama4_text", "hidden_size": 5120, "num_hidden_layers": 48}))],
        r"lacks vocab_size, intermediate_size, intermediate_size_mlp, num_attention_heads, num_key_value_heads, "
        r"num_local_experts: a plan is sized from these"),
    # benchmark tables
    cli("replay-table-gzip-of-blank-lines", _replay(_table(name="t.jsonl.gz", raw=gzip.compress(  # 1 minute per 400 MB
        b"\n" * ((1 << 20) + 2)))), r"t\.jsonl\.gz: holds more than 67,108,864 characters or 1,048,576 lines"),
    cli("replay-table-gzip-one-long-line", _replay(_table(name="t.jsonl.gz", raw=gzip.compress(
        b'{"id": "' + b"a" * (65 << 20) + b'"}\n', compresslevel=1))), r"t\.jsonl\.gz: holds more than 67,108,864"),
    cli("replay-table-fifo", _replay(_fifo_table), r"t\.jsonl: not a regular file"),  # waited for a writer forever
    cli("replay-table-seconds-past-64-bits", _replay(_table(_all_seconds(10**400))),
        r"t\.jsonl:2: not valid JSON \(integer 100000000000\.\.\.\(401 digits\) is out of range"),
    cli("oracle-table-latency-limit-past-64-bits", lambda sb: ["bench", "oracle", _table(_replace_in(
        0, '"objective": {', f'"objective": {{"latency_limit_s": {NINES}, '))(sb)], r"t\.jsonl:1: not valid JSON"),
    cli("replay-table-seconds-1e308", _replay(_table(_all_seconds(1e308))),  # failed naming budget.cost_s
        r"t\.jsonl: 1e\+308 seconds to train and tune every candidate; a table sonar replays holds at most 1e\+09"),
    cli("replay-table-candidate-id-long", _replay(_table(lambda i, line: _candidate(i, line, id="c" * 100_000))),
        r"t\.jsonl:2: field 'id' has 100,000 characters; at most 200"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def test_a_checkpoint_of_two_dtypes_loads_in_the_one_most_of_it_is_stored_in(sandbox):
    # Loaded as stored, one float16 linear among float32 ones failed the first forward deep in torch.
    ckpt = _weights(_one_linear_float16)(sandbox)
    model = sonar.load_pretrained(ckpt)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    with torch.no_grad():
        assert torch.isfinite(model(torch.tensor([[1, 2, 3]])).logits).all()
