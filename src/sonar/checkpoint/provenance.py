"""Where a checkpoint's weights came from, recorded beside them (PROVENANCE_FILE) and carried by a
loaded model (its `sonar_provenance` attribute) into whatever sonar saves from it.

- A model sonar built and trained itself: "trained from scratch by sonar", not derived from Llama 4.
- A checkpoint sonar wrote: its recorded provenance (one sonar wrote before provenance was recorded
  has only sonar's output marker, and is taken as sonar's own).
- Any other Llama 4 checkpoint (model_type llama4 / llama4_text, no sonar record): presumed to hold
  Meta's Llama 4 weights or a derivative of them, since that is how such checkpoints are published;
  everything saved from it carries the Llama 4 license notice (sonar.checkpoint.llama_license).
"""

from __future__ import annotations

import json
from pathlib import Path

from sonar.checkpoint.files import read_json_object
from sonar.outdir import MARKER

PROVENANCE_FILE = "sonar_provenance.json"
LLAMA4_MODEL_TYPES = ("llama4", "llama4_text")
FROM_SCRATCH = {"origin": "trained from scratch by sonar", "derived_from_llama4": False}
SONAR_BEFORE_RECORDS = {"origin": "written by sonar before provenance was recorded", "derived_from_llama4": False}


def checkpoint_provenance(path: str | Path, hf_config: dict) -> dict:
    """The provenance of the checkpoint directory `path` (its config.json already read)."""
    path = Path(path)
    if (path / PROVENANCE_FILE).is_file():
        return read_json_object(path / PROVENANCE_FILE)
    if (path / MARKER).is_file():
        return dict(SONAR_BEFORE_RECORDS)
    derived = hf_config.get("model_type") in LLAMA4_MODEL_TYPES
    return {"origin": "loaded from a checkpoint sonar did not write", "source": str(path.resolve()),
            "derived_from_llama4": derived,
            "why": ("a Llama 4 config.json with no sonar record: presumed Meta Llama 4 weights or a derivative"
                    if derived else "not a Llama 4 model_type")}


def model_provenance(model) -> dict:
    """What a model carries: its checkpoint's provenance if it was loaded, else sonar's own training."""
    return getattr(model, "sonar_provenance", None) or dict(FROM_SCRATCH)


def derives_from_llama4(provenance: dict) -> bool:
    return bool(provenance.get("derived_from_llama4"))


def provenance_json(provenance: dict) -> str:
    return json.dumps(provenance, indent=2)
