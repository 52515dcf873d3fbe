"""Export the chosen candidate: its HF checkpoint and the system configuration that runs it best."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sonar.errors import UserError
from sonar.outdir import refuse_special, writing
from sonar.search.results import best, measured
from sonar.search.storage import Storage


def find_hf_checkpoint(workdir: Path) -> Path | None:
    """The newest directory under the candidate's workdir holding a config.json and safetensors."""
    found = [p.parent for p in workdir.rglob("config.json") if any(p.parent.glob("*.safetensors"))]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def export_best(run_dir: str | Path, to: str | Path, *, overwrite: bool = False) -> tuple[Path, bool]:
    """Writes TO/model (HF format) and TO/system_config.json; returns (TO, whether weights were trained).
    TO is written as sonar.outdir writes any output: refused when it is the run directory, `.`, an
    ancestor of it, or holds files sonar did not write (unless `overwrite`, which still keeps them)."""
    protected = {run_dir: "the run directory being exported"}
    from sonar.checkpoint.llama_license import carry_license  # torch, only once an export is under way
    refuse_special(to, protected=protected)  # before any work: a refused target costs nothing
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
    checkpoint = find_hf_checkpoint(workdir) if workdir.is_dir() else None
    with writing(to, overwrite=overwrite, protected=protected) as staging:
        if checkpoint is not None:
            shutil.copytree(checkpoint, staging / "model", symlinks=True)
            carry_license(staging / "model", Path(to).name)
        else:  # no trained weights (synthetic backend): the architecture at its seeded initialisation
            from sonar.checkpoint import save_pretrained
            from sonar.model import build_model

            save_pretrained(build_model(state.candidates[chosen].model, seed=state.candidates[chosen].seed),
                            staging / "model")
        system = {"candidate": chosen, "system": row.system, "latency_s": row.latency_s,
                  "val_loss": row.val_loss, "workload": state.spec.workload, "target": state.spec.targets[0].name,
                  "trained_weights": checkpoint is not None}
        (staging / "system_config.json").write_text(json.dumps(system, indent=2, default=str))
    return Path(to), checkpoint is not None
