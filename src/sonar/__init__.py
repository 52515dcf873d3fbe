"""sonar: joint architecture and system optimization search for Llama-4-style models."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sonar.errors import UserError
from sonar.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sonar.checkpoint.io import load_pretrained, save_pretrained
    from sonar.model.config import ModelConfig
    from sonar.model.generation import generate
    from sonar.model.presets import preset
    from sonar.model.transformer import build_model

# Imported on first use (sonar/lazy_exports.py): importing the package loads none of these modules.
EXPORTS = {
    "load_pretrained": "sonar.checkpoint.io",
    "save_pretrained": "sonar.checkpoint.io",
    "ModelConfig": "sonar.model.config",
    "generate": "sonar.model.generation",
    "preset": "sonar.model.presets",
    "build_model": "sonar.model.transformer",
}
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

__version__ = "0.1.0"

__all__ = ["ModelConfig", "UserError", "build_model", "generate", "load_pretrained", "preset", "save_pretrained"]
