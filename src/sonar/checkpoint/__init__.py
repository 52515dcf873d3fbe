"""transformers-format checkpoints; all key mapping lives here, never in sonar.model."""

from sonar.checkpoint.hf_config import from_hf, to_hf
from sonar.checkpoint.hf_multimodal_config import multimodal_from_hf, multimodal_to_hf
from sonar.checkpoint.io import CheckpointError, load_pretrained, read_config, save_pretrained
from sonar.checkpoint.multimodal_io import load_multimodal, save_multimodal

__all__ = [
    "CheckpointError", "from_hf", "load_multimodal", "load_pretrained", "multimodal_from_hf", "multimodal_to_hf",
    "read_config", "save_multimodal", "save_pretrained", "to_hf",
]
