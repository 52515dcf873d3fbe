"""transformers-format checkpoints; all key mapping lives here, never in sonar.model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sonar.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sonar.checkpoint.hf_config import from_hf, to_hf
    from sonar.checkpoint.hf_multimodal_config import multimodal_from_hf, multimodal_to_hf
    from sonar.checkpoint.io import CheckpointError, load_pretrained, read_config, save_pretrained
    from sonar.checkpoint.multimodal_io import load_multimodal, save_multimodal

# Imported on first use (sonar/lazy_exports.py): importing the package loads none of these modules.
EXPORTS = {
    "from_hf": "sonar.checkpoint.hf_config",
    "to_hf": "sonar.checkpoint.hf_config",
    "multimodal_from_hf": "sonar.checkpoint.hf_multimodal_config",
    "multimodal_to_hf": "sonar.checkpoint.hf_multimodal_config",
    "CheckpointError": "sonar.checkpoint.io",
    "load_pretrained": "sonar.checkpoint.io",
    "read_config": "sonar.checkpoint.io",
    "save_pretrained": "sonar.checkpoint.io",
    "load_multimodal": "sonar.checkpoint.multimodal_io",
    "save_multimodal": "sonar.checkpoint.multimodal_io",
}
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

__all__ = [
    "CheckpointError", "from_hf", "load_multimodal", "load_pretrained", "multimodal_from_hf", "multimodal_to_hf",
    "read_config", "save_multimodal", "save_pretrained", "to_hf",
]
