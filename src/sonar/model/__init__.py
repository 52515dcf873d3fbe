"""Llama 4 architecture in pure PyTorch: no checkpoint formats, no system transformations."""

from sonar.model.cache import KVCache
from sonar.model.config import ConfigError, ModelConfig, RopeScaling
from sonar.model.generate import generate
from sonar.model.layout import LayerPlan, layer_plans
from sonar.model.presets import PRESETS, preset
from sonar.model.transformer import Llama4TextModel, ModelOutput, build_model

__all__ = [
    "ConfigError", "KVCache", "LayerPlan", "Llama4TextModel", "ModelConfig", "ModelOutput", "PRESETS",
    "RopeScaling", "build_model", "generate", "layer_plans", "preset",
]
