"""Export the chosen candidate: its HF checkpoint and the system configuration that runs it best."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sonar.errors import UserError
from sonar.outdir import refuse_special, writing
from sonar.search.results import target_winners
from sonar.search.storage import Storage


def find_hf_checkpoint(workdir: Path) -> Path | None:
    """The newest directory under the candidate's workdir holding a config.json and safetensors."""
    found = [p.parent for p in workdir.rglob("config.json") if any(p.parent.glob("*.safetensors"))]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def export_best(run_dir: str | Path, to: str | Path, *, overwrite: bool = False) -> tuple[Path, bool]:
    """Writes TO/model (HF format) and TO/system_config.json for the (first) target's winner; returns
    (TO, whether its weights were trained). A search over several targets also writes
    TO/system_config.<target>.json for every target with a winner, and TO/model.<target> for a target
    whose winner is another candidate than the first target's (its config's `model` names the folder).
    TO is written as sonar.outdir writes any output: refused when it is the run directory, `.`, an
    ancestor of it, or holds files sonar did not write (unless `overwrite`, which still keeps them)."""
    protected = {run_dir: "the run directory being exported"}
    from sonar.checkpoint.llama_license import carry_license  # torch, only once an export is under way
    refuse_special(to, protected=protected)  # before any work: a refused target costs nothing
    storage = Storage(run_dir)
    try:
        state = storage.state()
        winners = target_winners(state)
        first = state.spec.targets[0]
        if winners[first.name] is None:
            raise UserError(f"{run_dir}: no candidate meets the objective yet; nothing to export")
        workdirs = {w.id: storage.candidate_dir(w.id) for w in winners.values() if w is not None}
    finally:
        storage.close()
    checkpoints = {cid: find_hf_checkpoint(d) if d.is_dir() else None for cid, d in workdirs.items()}
    for cid, checkpoint in checkpoints.items():
        if checkpoint is not None:
            _check_checkpoint(cid, checkpoint)
    several = len(state.spec.targets) > 1
    with writing(to, kind="export", overwrite=overwrite, protected=protected) as staging:
        folders = {winners[first.name].id: "model"}
        for target in state.spec.targets:
            row = winners[target.name]
            if row is None:
                continue
            folder = folders.setdefault(row.id, f"model.{target.name}")
            if not (staging / folder).exists():  # a candidate winning on several targets is written once
                _write_model(state, row.id, checkpoints[row.id], staging / folder)
                carry_license(staging / folder, Path(to).name)
            system = {"candidate": row.id, "system": row.system, "latency_s": row.latency_s,
                      "val_loss": row.val_loss, "workload": target.workload or state.spec.workload,
                      "target": target.name, "trained_weights": checkpoints[row.id] is not None}
            if several:
                system = {**system, "device": target.device, "latency_bound_s": target.latency_s, "model": folder}
                (staging / f"system_config.{target.name}.json").write_text(json.dumps(system, indent=2, default=str))
            if target is first:
                (staging / "system_config.json").write_text(json.dumps(system, indent=2, default=str))
    return Path(to), checkpoints[winners[first.name].id] is not None


def _check_checkpoint(candidate: str, checkpoint: Path) -> None:
    """Before anything is written: a broken checkpoint failed once copied, naming its copy in the staging folder
    (gone by the time the user looked) and not the candidate's file that was broken."""
    from sonar.checkpoint import from_hf
    from sonar.checkpoint.files import check_weights_readable, config_from_file

    try:
        config_from_file(checkpoint, from_hf)
        check_weights_readable(checkpoint)
    except UserError as err:
        raise UserError(f"candidate {candidate}'s checkpoint {checkpoint} cannot be exported: {err}") from None


def _write_model(state, candidate: str, checkpoint: Path | None, folder: Path) -> None:
    if checkpoint is not None:
        shutil.copytree(checkpoint, folder, symlinks=True)
        return
    # no trained weights (synthetic backend): the architecture at its seeded initialisation
    from sonar.checkpoint import save_pretrained
    from sonar.model import build_model

    save_pretrained(build_model(state.candidates[candidate].model, seed=state.candidates[candidate].seed), folder)
