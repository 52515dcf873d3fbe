"""Bad or unusual inputs to the checkpoint readers and writers and to the quick corpus check: each read as
transformers reads it, or refused by name before anything is written."""

import copy

import pytest
import torch

from sonar.checkpoint import to_hf
from sonar.checkpoint.hf_config import from_hf
from sonar.checkpoint.hf_multimodal_config import vision_from_hf, vision_to_hf
from sonar.checkpoint.io import write_checkpoint
from sonar.data.corpus import load_corpus
from sonar.data.corpus_check import check_corpus
from sonar.errors import UserError
from sonar.model import preset
from sonar.model.config import ConfigError
from sonar.model.vision_config import VisionConfig

LLAMA3 = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0}


def _text_config(**changes) -> dict:
    hf = to_hf(preset("debug"))
    hf.pop("rope_parameters")
    return {**hf, **changes}


def _hf_rope(hf: dict) -> dict:
    transformers = pytest.importorskip("transformers")
    return transformers.Llama4TextConfig(**copy.deepcopy(hf)).rope_parameters  # it fills in the dict it is given


@pytest.mark.parametrize("form", ["rope_parameters", "rope_scaling"])
@pytest.mark.parametrize("max_positions", [65536, None])
def test_llama3_rope_without_its_pretraining_length_reads_as_transformers_fills_it(form, max_positions):
    hf = _text_config(**{form: dict(LLAMA3)})
    if max_positions is None:
        del hf["max_position_embeddings"]  # transformers' own default fills in, not sonar's
    else:
        hf["max_position_embeddings"] = max_positions
    expected = _hf_rope(hf)["original_max_position_embeddings"]
    assert from_hf(hf).rope_scaling.original_max_position_embeddings == expected


def test_a_top_level_pretraining_length_goes_unread_as_in_transformers():
    hf = _text_config(rope_parameters=dict(LLAMA3), max_position_embeddings=65536,
                      original_max_position_embeddings=4096)
    expected = _hf_rope(hf)["original_max_position_embeddings"]
    assert from_hf(hf).rope_scaling.original_max_position_embeddings == expected == 65536


@pytest.mark.parametrize("key", ["factor", "low_freq_factor", "high_freq_factor"])
def test_llama3_rope_without_a_scaling_setting_is_refused_by_name(key):
    params = {k: v for k, v in LLAMA3.items() if k != key}
    with pytest.raises(ConfigError, match=f"rope_type 'llama3': missing key '{key}'"):
        from_hf(_text_config(rope_parameters=params))  # a bare KeyError before


def _vision(**rope) -> dict:
    hf = vision_to_hf(VisionConfig())
    hf.pop("rope_parameters")
    return {**hf, **rope}


def _hf_vision_theta(hf: dict) -> float:
    transformers = pytest.importorskip("transformers")
    return transformers.Llama4VisionConfig(**copy.deepcopy(hf)).rope_parameters["rope_theta"]


@pytest.mark.parametrize("rope", [
    {"rope_theta": 30000.0},
    {"rope_parameters": {"rope_type": "default", "rope_theta": 20000.0}},
    {"rope_parameters": {"rope_type": "default"}, "rope_theta": 20000.0},
    {"rope_scaling": {"rope_type": "default", "rope_theta": 50000.0}},
    {"rope_scaling": {"rope_type": "default"}, "rope_theta": 70000.0},
    {"rope_scaling": {"rope_type": "default", "rope_theta": 50000.0}, "rope_theta": 50000},
    {"rope_scaling": {"rope_type": "default", "rope_theta": 50000.0},
     "rope_parameters": {"rope_type": "default", "rope_theta": 50000.0}},
    {},
])
def test_vision_rope_forms_read_as_transformers_reads_them(rope):
    hf = _vision(**rope)
    assert vision_from_hf(hf).rope_theta == _hf_vision_theta(hf)


@pytest.mark.parametrize("rope, older", [
    ({"rope_parameters": {"rope_type": "default", "rope_theta": 20000.0}, "rope_theta": 10000.0}, "rope_theta"),
    ({"rope_parameters": {"rope_type": "default", "rope_theta": 60000.0},
      "rope_scaling": {"rope_type": "default", "rope_theta": 50000.0}}, "rope_scaling"),
    ({"rope_parameters": {"rope_type": "default", "rope_theta": 60000.0},
      "rope_scaling": {"rope_type": "default"}, "rope_theta": 50000.0}, "rope_scaling"),
])
def test_vision_rope_forms_that_disagree_are_refused_by_name(rope, older):
    # transformers reads rope_scaling over rope_parameters, and rope_parameters' theta over a top-level one:
    # read from rope_parameters alone, the first two ran with another theta than in transformers
    with pytest.raises(ConfigError, match=f"vision rope_parameters and the older {older} describe different RoPE"):
        vision_from_hf(_vision(**rope))


@pytest.mark.parametrize("name", ["rope_parameters", "rope_scaling"])
def test_vision_rope_mapping_of_another_type_is_refused(name):
    with pytest.raises(ConfigError, match=f"vision {name}=\\[1, 2\\]: expected a mapping"):
        vision_from_hf(_vision(**{name: [1, 2]}))


def _parquet(tmp_path, column):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"text": column}), path)
    return path


@pytest.mark.parametrize("column, type_name", [
    ([1, 2, 3], "int64"), ([b"ab", b"cd"], "binary"), ([["a"], ["b"]], "list<element: string>"),
])
def test_check_corpus_refuses_a_parquet_column_that_is_not_text_as_load_corpus_does(tmp_path, column, type_name):
    path = _parquet(tmp_path, column)
    message = f"column 'text' holds {type_name}, not text"
    for read in (load_corpus, lambda p: check_corpus(p, text_field="text")):
        with pytest.raises(UserError, match=message.replace("<", "\\<").replace("[", "\\[")):
            read(str(path))


def test_check_corpus_leaves_the_column_to_a_caller_that_names_no_text_field(tmp_path):
    # a spec whose text_field is "body" reads this file; a check that assumed "text" would refuse it
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"text": list(range(10)), "body": [f"document {i} " * 20 for i in range(10)]}), path)
    check_corpus(str(path))
    with pytest.raises(UserError, match="column 'text' holds int64"):
        check_corpus(str(path), text_field="text")
    assert len(load_corpus(str(path), text_field="body").documents) == 10


def test_check_corpus_passes_a_parquet_column_of_strings(tmp_path):
    path = _parquet(tmp_path, [f"document {i} " * 20 for i in range(10)])
    check_corpus(str(path), text_field="text")
    assert len(load_corpus(str(path)).documents) == 10


def test_check_corpus_refuses_a_file_that_is_no_parquet(tmp_path):
    path = tmp_path / "corpus.parquet"
    path.write_text("not parquet at all\n")
    for read in (load_corpus, lambda p: check_corpus(p, text_field="text")):
        with pytest.raises(UserError, match="cannot read column 'text' of"):
            read(str(path))
    with pytest.raises(UserError, match="cannot read .* as Parquet"):
        check_corpus(str(path))


def test_check_corpus_reads_a_parquet_file_in_a_glob_as_text_as_load_corpus_does(tmp_path):
    path = _parquet(tmp_path, [f"document {i} " * 20 for i in range(10)])
    (tmp_path / "a.bin").write_bytes(path.read_bytes())  # a glob's files are all read as text
    path.unlink()
    for read in (load_corpus, check_corpus):
        with pytest.raises(UserError, match="is not UTF-8"):
            read(str(tmp_path / "*.bin"))


@pytest.mark.parametrize("state, message", [
    ({}, "the state holds no tensors"),
    ([("w", torch.zeros(2))], "the state must be a dict of tensor names to tensors, got list"),
    ({"w": [1.0, 2.0]}, "entry 'w' is a list"),
    ({3: torch.zeros(2)}, "entry 3 is a Tensor"),
])
def test_write_checkpoint_refuses_a_state_without_tensors_and_writes_nothing(tmp_path, state, message):
    target = tmp_path / "ckpt"
    with pytest.raises(UserError, match=message):
        write_checkpoint(state, to_hf(preset("debug")), target)  # an empty one: StopIteration before
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_checkpoint_refuses_a_config_that_is_no_mapping(tmp_path):
    with pytest.raises(UserError, match="config must be a dict"):
        write_checkpoint({"w": torch.zeros(2)}, [("a", 1)], tmp_path / "ckpt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make", [
    lambda tmp: _parquet(tmp, pytest.importorskip("pyarrow").array([], type="string")),
    lambda tmp: _parquet(tmp, [None, None]),
], ids=["no-rows", "all-null"])
def test_check_corpus_refuses_an_empty_parquet_column_as_load_corpus_does(tmp_path, make):
    path = make(tmp_path)
    for read in (load_corpus, lambda p: check_corpus(p, text_field="text")):
        with pytest.raises(UserError, match="is empty: it holds no non-blank text"):
            read(str(path))


@pytest.mark.parametrize("glob", [False, True])
def test_check_corpus_refuses_a_folder_or_glob_of_empty_files_as_load_corpus_does(tmp_path, glob):
    for name in ("a.txt", "b.txt", "c.md"):
        (tmp_path / name).write_bytes(b"")
    source = str(tmp_path / "*.txt") if glob else str(tmp_path)
    for read in (load_corpus, check_corpus):
        with pytest.raises(UserError, match="is empty: it holds no non-blank text"):
            read(source)


def test_check_corpus_passes_a_folder_with_one_non_empty_file(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"")
    (tmp_path / "b.txt").write_text("some text " * 50)
    check_corpus(str(tmp_path))
    check_corpus(str(tmp_path / "*.txt"))
