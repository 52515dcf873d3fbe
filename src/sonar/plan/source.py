"""What the planner plans for: a text config and, for multimodal checkpoints, the vision tower.

A model is named by a preset (`scout`, `maverick`, `debug`, `tiny`, `small`) or by the path of a
transformers config.json (or the checkpoint directory holding it). A config.json of model_type
`llama4` is the multimodal checkpoint: its `vision_config` is read too. Scout and Maverick ship as
multimodal checkpoints, so their presets carry the Llama 4 vision tower; the small presets do not.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from sonar import strict_json
from sonar.checkpoint.hf_config import from_hf, text_config_dict
from sonar.checkpoint.hf_multimodal_config import read_square_sides
from sonar.errors import UserError
from sonar.model.config import ModelConfig
from sonar.model.presets import PRESETS, preset
from sonar.model.vision_config import VisionConfig

MULTIMODAL_PRESETS = frozenset({"scout", "maverick"})


@dataclass(kw_only=True, frozen=True)
class ModelSpec:
    name: str
    config: ModelConfig
    vision: VisionConfig | None = None

    def text_only(self) -> ModelSpec:
        return dataclasses.replace(self, vision=None)


LLAMA4_MODEL_TYPES = ("llama4", "llama4_text")
MAX_CONFIG_BYTES = 16 * 1024**2


# What every size in a plan follows from; a checkpoint's config.json written by transformers holds them all.
SIZE_FIELDS = ("vocab_size", "hidden_size", "intermediate_size", "intermediate_size_mlp", "num_hidden_layers",
               "num_attention_heads", "num_key_value_heads", "num_local_experts")


def load_model_spec(model: str) -> ModelSpec:
    if not isinstance(model, str | Path):
        raise UserError(f"model={model!r}: must be a preset name or a checkpoint directory")
    if model in PRESETS:
        return ModelSpec(
            name=model, config=preset(model), vision=VisionConfig() if model in MULTIMODAL_PRESETS else None
        )
    path = Path(model)
    if path.is_dir():
        path = path / "config.json"
    if path.exists() and not path.is_file():  # else "no such config.json", of a path that exists
        raise UserError(f"--model {model!r}: {path} is not a regular file (a directory, FIFO, device or socket)")
    if not path.is_file():
        raise UserError(f"--model {model!r}: not a preset (choose one of {sorted(PRESETS)}) and no such config.json")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)  # bounded: a weights file named by mistake is gigabytes
        if len(data) > MAX_CONFIG_BYTES:
            raise UserError(f"--model {model!r}: {path} is larger than {MAX_CONFIG_BYTES:,} bytes; a config.json is "
                            "a few kilobytes (name the checkpoint's config.json or its directory)")
        hf = strict_json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"--model {model!r}: {path} is not valid JSON ({err})") from None
    except OSError as err:  # EIO (/proc/self/mem), EISDIR races, ...: the file cannot be read, say which
        raise UserError(f"--model {model!r}: cannot read {path} ({err.strerror or err})") from None
    if not isinstance(hf, dict):
        raise UserError(f"--model {model!r}: {path} does not hold a JSON object")
    if hf.get("model_type") not in LLAMA4_MODEL_TYPES:  # transformers always writes it; defaults fill the rest
        raise UserError(f"--model {model!r}: {path} has model_type={hf.get('model_type')!r}; "
                        f"expected one of {list(LLAMA4_MODEL_TYPES)} (a Llama 4 config.json)")
    try:
        # inside the try: a bad vision value named neither --model nor the file, where a bad text value does
        vision = vision_from_hf(hf["vision_config"]) if hf.get("model_type") == "llama4" and "vision_config" in hf \
            else None
        config = from_hf(hf)
        missing = [name for name in SIZE_FIELDS if name not in text_config_dict(hf)]
        if missing:  # a default would stand in for the model's own size, and every figure of the plan be wrong
            raise UserError(f"lacks {', '.join(missing)}: a plan is sized from these; give the model's full "
                            "config.json (transformers writes every one)")
    except UserError as err:
        raise type(err)(f"--model {model!r}: {path}: {err}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:  # a value of the wrong type in the file
        raise UserError(f"--model {model!r}: {path} holds an invalid value ({err!r})") from None
    return ModelSpec(name=path.parent.name or str(path), config=config, vision=vision)


def vision_from_hf(hf_vision: dict) -> VisionConfig:
    """transformers' Llama4VisionConfig dict -> VisionConfig, read as the checkpoint loader reads it (a square
    image_size or patch_size may be written as [side, side]); fields that do not change the size are ignored."""
    if not isinstance(hf_vision, dict):
        raise UserError(f"vision_config: expected a JSON object, got {type(hf_vision).__name__}")
    known = {f.name for f in dataclasses.fields(VisionConfig)}
    # a non-square or empty list is left for VisionConfig to refuse by name
    return VisionConfig(**read_square_sides({k: v for k, v in hf_vision.items() if k in known}))
