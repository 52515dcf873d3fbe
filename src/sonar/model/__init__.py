"""Llama 4 architecture in pure PyTorch: no checkpoint formats, no system transformations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sonar.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sonar.model.cache import KVCache
    from sonar.model.config import ConfigError, ModelConfig, RopeScaling
    from sonar.model.generation import generate
    from sonar.model.layout import LayerPlan, layer_plans
    from sonar.model.presets import PRESETS, preset
    from sonar.model.transformer import Llama4TextModel, ModelOutput, build_model

# Imported on first use (sonar/lazy_exports.py): importing the package loads none of these modules.
EXPORTS = {
    "KVCache": "sonar.model.cache",
    "ConfigError": "sonar.model.config",
    "ModelConfig": "sonar.model.config",
    "RopeScaling": "sonar.model.config",
    "generate": "sonar.model.generation",
    "LayerPlan": "sonar.model.layout",
    "layer_plans": "sonar.model.layout",
    "PRESETS": "sonar.model.presets",
    "preset": "sonar.model.presets",
    "Llama4TextModel": "sonar.model.transformer",
    "ModelOutput": "sonar.model.transformer",
    "build_model": "sonar.model.transformer",
}
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

__all__ = [
    "ConfigError", "KVCache", "LayerPlan", "Llama4TextModel", "ModelConfig", "ModelOutput", "PRESETS",
    "RopeScaling", "build_model", "generate", "layer_plans", "preset",
]
