"""Bad input found by an eighth sweep, over the checkpoint's RoPE fields, Parquet corpora, resumed runs and
save_pretrained (the contract each case must meet: bad_input_cases.py). Each case was a traceback, a silent
acceptance or a misleading message before it was fixed."""

from __future__ import annotations

import json

import pytest
import torch
from bad_input_cases import api, check_case, cli, params
from bad_input_sandbox import Sandbox, snapshot
from typer.testing import CliRunner

import sonar
from sonar.checkpoint import from_hf, to_hf
from sonar.cli import app
from sonar.model.config import RopeScaling

LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 64}


def _rope_edited(sb: Sandbox, **fields) -> str:
    """The debug checkpoint (rope_parameters: default, theta 500000), `fields` set in its config.json."""
    return sb.edit_json(f"{sb.checkpoint()}/config.json", lambda config: config | fields) and "ckpt"


def _parquet(sb: Sandbox, name: str, column) -> str:
    """A Parquet file `name` whose only column, text, holds `column` (a pyarrow array) ten times over."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": pa.concat_arrays([column] * 10)}), sb.root / name)
    return name


def _int_column():
    import pyarrow as pa

    return pa.array([1, 2, 3], pa.int64())


def _list_column():
    import pyarrow as pa

    return pa.array([["a b", "c d"], ["e f"], []])


def _with_weight(model, name: str, value: float):
    """`model` with one element of its parameter `name` (sonar's name) set to `value`."""
    with torch.no_grad():
        model.get_parameter(name).view(-1)[3] = value
    return model


def _debug(**changes):
    return sonar.build_model(sonar.preset("debug").replace(**changes))


def _small_multimodal():
    from sonar.model.fusion import build_multimodal_model
    from sonar.model.multimodal_config import MultimodalConfig
    from sonar.model.vision_config import VisionConfig

    vision = VisionConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128,
                          image_size=32, patch_size=8, projector_input_dim=64, projector_output_dim=64,
                          vision_output_dim=64)
    return build_multimodal_model(MultimodalConfig(text=sonar.preset("debug").replace(vocab_size=600), vision=vision,
                                                   boi_token_index=597, eoi_token_index=598, image_token_index=599))


def _meta_model():
    from sonar.model.transformer import Llama4TextModel

    with torch.device("meta"):
        return Llama4TextModel(sonar.preset("debug"))


CASES = [
    # rope_parameters alone was read: the model ran plain RoPE where transformers, which builds from rope_scaling
    # whenever a file has one, ran llama3 scaling (or another factor, or another theta)
    api("api-load-rope-scaling-beside-rope-parameters", lambda path: sonar.load_pretrained(path),
        r"ckpt/config\.json: rope_parameters and the older rope_scaling/rope_theta fields describe different RoPE "
        r"\(rope_type 'default' vs 'llama3'\): keep rope_parameters alone, or make the two agree",
        setup=lambda sb: _rope_edited(sb, rope_scaling=LLAMA3)),
    api("api-load-rope-scaling-other-factor", lambda path: sonar.load_pretrained(path),
        r"describe different RoPE \(factor 8\.0 vs 16\.0\)",
        setup=lambda sb: _rope_edited(sb, rope_parameters=LLAMA3 | {"rope_theta": 500000.0},
                                      rope_scaling=LLAMA3 | {"factor": 16.0})),
    api("api-load-rope-scaling-other-theta", lambda path: sonar.load_pretrained(path),
        r"describe different RoPE \(rope_theta 500000\.0 vs 10000\.0\)",
        setup=lambda sb: _rope_edited(sb, rope_parameters=LLAMA3 | {"rope_theta": 500000.0}, rope_scaling=LLAMA3,
                                      rope_theta=10000.0)),
    api("api-load-rope-theta-beside-rope-parameters", lambda path: sonar.load_pretrained(path),
        r"describe different RoPE \(rope_theta 500000\.0 vs 10000\.0\)",
        setup=lambda sb: _rope_edited(sb, rope_theta=10000.0)),
    # every value was dropped as not a string: "corpus 'c.parquet' is empty: it holds no non-blank text"
    api("api-load-corpus-parquet-int-column", lambda path: sonar.data.load_corpus(path),
        r"^c\.parquet: column 'text' holds int64, not text; a corpus reads a column of strings$",
        setup=lambda sb: _parquet(sb, "c.parquet", _int_column())),
    api("api-load-corpus-parquet-list-column", lambda path: sonar.data.load_corpus(path),
        r"^c\.parquet: column 'text' holds list<element: string>, not text",
        setup=lambda sb: _parquet(sb, "c.parquet", _list_column())),
    cli("train-corpus-parquet-int-column", lambda sb: [
        "train", "--preset", "debug", "--steps", "1", "--threads", "1", "--out", "r", "--corpus",
        _parquet(sb, "c.parquet", _int_column())], r"c\.parquet: column 'text' holds int64, not text"),
    # written without a word: a checkpoint of NaN weights that load_pretrained then refused
    api("api-save-nan-weight", lambda model: sonar.save_pretrained(model, "a/out"),
        r"^a/out: not written: tensor 'model\.layers\.1\.self_attn\.k_proj\.weight' holds NaN or infinite values",
        setup=lambda sb: _with_weight(_debug(), "layers.1.attn.k_proj.weight", float("nan"))),
    api("api-save-inf-weight-over-a-checkpoint", lambda model: sonar.save_pretrained(model, "ckpt", overwrite=True),
        r"^ckpt: not written: tensor 'model\.norm\.weight' holds NaN or infinite values",
        setup=lambda sb: sb.checkpoint() and _with_weight(_debug(), "norm.weight", -float("inf"))),
    api("api-save-multimodal-nan-weight", lambda model: sonar.checkpoint.save_multimodal(model, "mm"),
        r"^mm: not written: tensor 'vision_model\.patch_embedding\.linear\.weight' holds NaN",
        setup=lambda sb: _with_weight(_small_multimodal(), "vision_model.patch_embed.weight", float("nan"))),
    # NotImplementedError "Cannot copy out of meta tensor; no data!" from inside safetensors, the folders a/ and
    # a/b/ left behind
    api("api-save-meta-model", lambda model: sonar.save_pretrained(model, "a/b/out"),
        r"^a/b/out: not written: tensor 'model\.embed_tokens\.weight' is on the meta device and holds no values",
        setup=lambda sb: _meta_model()),
    api("api-save-meta-model-over-a-checkpoint", lambda model: sonar.save_pretrained(model, "ckpt", overwrite=True),
        r"^ckpt: not written: tensor 'model\.embed_tokens\.weight' is on the meta device",
        setup=lambda sb: sb.checkpoint() and _meta_model()),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def _transformers_rope(hf: dict) -> tuple[float, RopeScaling | None]:
    """The RoPE transformers builds from config.json `hf`, as sonar's (theta, scaling)."""
    transformers = pytest.importorskip("transformers")
    rope = transformers.Llama4TextConfig(**hf).rope_parameters
    if rope["rope_type"] == "default":
        return rope["rope_theta"], None
    return rope["rope_theta"], RopeScaling(**{k: rope[k] for k in ("factor", "low_freq_factor", "high_freq_factor",
                                                                  "original_max_position_embeddings")})


@pytest.mark.parametrize("fields", [
    pytest.param({"rope_parameters": LLAMA3 | {"rope_theta": 1e4}, "rope_scaling": LLAMA3, "rope_theta": 1e4},
                 id="both-agree"),
    pytest.param({"rope_parameters": LLAMA3 | {"rope_theta": 1e4}, "rope_scaling": LLAMA3 | {"rope_theta": 1e4}},
                 id="both-agree-theta-in-scaling"),
    pytest.param({"rope_parameters": {"rope_type": "default", "rope_theta": 1e4}, "rope_theta": 10000},
                 id="same-theta-twice"),
    pytest.param({"rope_parameters": LLAMA3 | {"rope_theta": 1e4}, "rope_scaling": None, "rope_theta": 1e4},
                 id="scaling-null"),
    # read as 500000 before: transformers fills the theta rope_parameters leaves out from the top-level one
    pytest.param({"rope_parameters": {"rope_type": "default"}, "rope_theta": 1234.0}, id="theta-only-at-top"),
    # read as plain RoPE before: transformers takes "type" where "rope_type" is missing
    pytest.param({"rope_parameters": {("type" if k == "rope_type" else k): v for k, v in LLAMA3.items()}},
                 id="type-key"),
    # the top-level theta replaced rope_scaling's own before; transformers keeps rope_scaling's
    pytest.param({"rope_scaling": LLAMA3 | {"rope_theta": 1e4}, "rope_theta": 1234.0}, id="4x-theta-in-scaling"),
])
def test_a_config_json_with_both_rope_forms_reads_as_transformers_reads_it(fields):
    hf = {k: v for k, v in to_hf(sonar.preset("debug").replace(max_position_embeddings=128)).items()
          if k != "rope_parameters"} | fields
    config = from_hf(hf)
    assert (config.rope_theta, config.rope_scaling) == _transformers_rope(hf)


def test_a_parquet_corpus_of_encoded_or_nested_strings_is_read(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [f"row {i}" for i in range(9)]
    pq.write_table(pa.table({"text": pa.array(rows).dictionary_encode()}), tmp_path / "d.parquet")
    assert [d.text for d in sonar.data.load_corpus(tmp_path / "d.parquet").documents] == rows
    # read_table gives the child of a struct column named by its own name ("text"): a KeyError before
    pq.write_table(pa.table({"meta": [{"text": row} for row in rows]}), tmp_path / "n.parquet")
    assert [d.text for d in sonar.data.load_corpus(tmp_path / "n.parquet", text_field="meta.text").documents] == rows


def _train(run: str, *extra: str) -> list[str]:
    return ["train", "--preset", "debug", "--out", run, "--vocab", "300", "--threads", "1", *extra]


def _run_recording_a_relative_corpus(sandbox, monkeypatch) -> str:
    """A one-step run made as sonar made it before it recorded the corpus absolute: "corpus", as given."""
    import sonar.cli.train as train_cli

    corpus = sandbox.corpus()
    with monkeypatch.context() as older:
        older.setattr(train_cli, "absolute_corpus", lambda source: source)
        first = CliRunner().invoke(app, _train("r", "--steps", "1", "--corpus", corpus))
    assert first.exit_code == 0, first.output
    assert json.loads((sandbox.root / "r" / "train_config.json").read_text())["data"]["corpus"] == corpus
    return corpus


def test_a_run_that_recorded_its_corpus_relative_resumes_from_another_folder_with_corpus(sandbox, monkeypatch):
    # from another folder: "corpus path 'corpus' does not exist", naming neither the run's settings nor a flag,
    # and --corpus with the corpus's full path was refused as contradicting the recorded 'corpus'
    corpus = _run_recording_a_relative_corpus(sandbox, monkeypatch)
    run = str(sandbox.root / "r")
    monkeypatch.chdir(sandbox.root / "home")
    before = snapshot(sandbox.root)
    bare = CliRunner().invoke(app, _train(run, "--steps", "2", "--resume"))
    assert bare.exit_code == 2, bare.output
    assert bare.stderr.strip() == (
        f"error: {run}/train_config.json: the corpus 'corpus' is recorded relative to the folder the run was "
        "started in, and this folder has none; pass --corpus with its path (or resume from that folder)")
    assert snapshot(sandbox.root) == before
    named = CliRunner().invoke(app, _train(run, "--steps", "2", "--resume", "--corpus", str(sandbox.root / corpus)))
    assert named.exit_code == 0, named.output
    # the recorded settings are left as they were: from the folder it started in, the run resumes as it always did
    assert json.loads((sandbox.root / "r" / "train_config.json").read_text())["data"]["corpus"] == corpus
    monkeypatch.chdir(sandbox.root)
    again = CliRunner().invoke(app, _train("r", "--steps", "3", "--resume"))
    assert again.exit_code == 0, again.output
    assert [p["step"] for p in json.loads((sandbox.root / "r" / "curve.json").read_text())["curve"]] == [1, 2, 3]
