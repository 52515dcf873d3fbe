"""transformers-format checkpoints; all key mapping lives here, never in sonar.model."""

from sonar.checkpoint.hf_config import from_hf, to_hf
from sonar.checkpoint.io import CheckpointError, load_pretrained, read_config, save_pretrained

__all__ = ["CheckpointError", "from_hf", "load_pretrained", "read_config", "save_pretrained", "to_hf"]
