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
    with pytest.raises(ConfigError, match=f"rope_type 'llama3' without {key}"):
        from_hf(_text_config(rope_parameters=params))  # a bare KeyError before
