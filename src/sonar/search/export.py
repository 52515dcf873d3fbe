"""Export the chosen candidate: its HF checkpoint and the system configuration that runs it best."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sonar.errors import UserError
from sonar.search.results import best, measured
from sonar.search.storage import Storage


def find_hf_checkpoint(workdir: Path) -> Path | None:
    """The newest directory under the candidate's workdir holding a config.json and safetensors."""
    found = [p.parent for p in workdir.rglob("config.json") if any(p.parent.glob("*.safetensors"))]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def export_best(run_dir: str | Path, to: str | Path) -> tuple[Path, bool]:
    """Writes TO/model (HF format) and TO/system_config.json; returns (TO, whether weights were trained)."""
    storage = Storage(run_dir)
    try:
        state = storage.state()
        chosen = best(state)
        if chosen is None:
            raise UserError(f"{run_dir}: no candidate meets the objective yet; nothing to export")
        workdir = storage.candidate_dir(chosen)
    finally:
        storage.close()
    row = next(r for r in measured(state) if r.id == chosen)
    to = Path(to)
    staging = to.with_name(f".{to.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    checkpoint = find_hf_checkpoint(workdir) if workdir.is_dir() else None
    if checkpoint is not None:
        shutil.copytree(checkpoint, staging / "model")
    else:  # no trained weights (synthetic backend): the architecture at its seeded initialisation
        from sonar.checkpoint import save_pretrained
        from sonar.model import build_model

        save_pretrained(build_model(state.candidates[chosen].model, seed=state.candidates[chosen].seed),
                        staging / "model")
    system = {"candidate": chosen, "system": row.system, "latency_s": row.latency_s, "val_loss": row.val_loss,
              "workload": state.spec.workload, "target": state.spec.targets[0].name,
              "trained_weights": checkpoint is not None}
    (staging / "system_config.json").write_text(json.dumps(system, indent=2, default=str))
    if to.exists():
        shutil.rmtree(to)
    os.replace(staging, to)
    return to, checkpoint is not None
