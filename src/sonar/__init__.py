"""sonar: joint architecture and system optimization search for Llama-4-style models."""

from sonar.checkpoint import load_pretrained, save_pretrained
from sonar.errors import UserError
from sonar.model import ModelConfig, build_model, generate, preset

__version__ = "0.1.0"
__all__ = ["ModelConfig", "UserError", "build_model", "generate", "load_pretrained", "preset", "save_pretrained"]
