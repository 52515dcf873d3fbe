"""Models named by preset or by a transformers config.json (text-only or multimodal)."""

import json

import pytest

from sonar.checkpoint import to_hf
from sonar.errors import UserError
from sonar.model.presets import preset
from sonar.model.vision_config import VisionConfig
from sonar.plan.source import load_model_spec


def test_multimodal_config_json_reads_the_vision_tower(tmp_path):
    vision = {"hidden_size": 1408, "num_hidden_layers": 34, "intermediate_size": 5632, "vision_feature_layer": -1,
              "attention_dropout": 0.0, "vision_output_dim": 4096, "projector_input_dim": 4096}
    hf = {"model_type": "llama4", "text_config": to_hf(preset("scout")), "vision_config": vision}
    (tmp_path / "config.json").write_text(json.dumps(hf))
    spec = load_model_spec(str(tmp_path))  # a checkpoint directory
    assert spec.config == preset("scout")
    assert spec.vision == VisionConfig()


def test_a_square_size_written_as_a_pair_reads_as_the_checkpoint_loader_reads_it(tmp_path):
    # transformers may write image_size and patch_size as [side, side]; the loader takes them, so must the plan
    vision = {"image_size": [336, 336], "patch_size": [14, 14]}
    hf = {"model_type": "llama4", "text_config": to_hf(preset("scout")), "vision_config": vision}
    (tmp_path / "config.json").write_text(json.dumps(hf))
    assert load_model_spec(str(tmp_path)).vision == VisionConfig(image_size=336, patch_size=14)
    hf["vision_config"] = {"image_size": [336, 224]}
    (tmp_path / "config.json").write_text(json.dumps(hf))
    with pytest.raises(UserError, match="image_size"):
        load_model_spec(str(tmp_path))


def test_text_config_json_has_no_vision(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(to_hf(preset("maverick"))))
    spec = load_model_spec(str(path))
    assert spec.config == preset("maverick") and spec.vision is None


def test_text_only_drops_the_vision_tower():
    assert load_model_spec("scout").text_only().vision is None


def test_missing_config_names_the_value_and_presets(tmp_path):
    with pytest.raises(UserError, match=r"'nope/config.json'.*scout") as err:
        load_model_spec("nope/config.json")
    assert "\n" not in str(err.value)


def test_invalid_json_is_a_user_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_model_spec(str(path))
