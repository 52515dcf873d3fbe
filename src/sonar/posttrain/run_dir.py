"""The directory a post-training command writes (--out), told apart from every other directory.

A stage's output carries sonar's output marker (sonar.outdir.MARKER) with the stage as its kind
("posttrain-sft", "posttrain-rl", ...), so a `sonar train` run, an export, a checkpoint, another stage's
output or a user's folder that merely holds a `model/` is never taken for one. --out must be new, empty,
or that stage's own earlier output, and then only where the command says how to continue it: `rl --resume`,
`sft|dpo|distill --overwrite` (which replaces sonar's files there and nothing else). It never holds (nor
lies inside) a checkpoint the command reads, so an input is never replaced by its own result.
"""

from __future__ import annotations

import os
from pathlib import Path

from sonar import strict_json
from sonar.data.cache import write_atomic
from sonar.errors import UserError
from sonar.outdir import (
    MARKER,
    files_under,
    read_marker,
    read_marker_and_kind,
    refuse_control_characters,
    refuse_file_ancestor,
    refuse_special,
    write_marker,
)
from sonar.posttrain.rl_state import RL_STATE_FILE

STAGES = ("sft", "rl", "dpo", "distill", "all", "tune")
RL_RUN_FILE = "rl_run.json"  # what an RL run started from, so --resume refuses another --from
RL_STATE = f"state/{RL_STATE_FILE}"


def run_kind(stage: str) -> str:
    """The output kind a stage's directory is marked with."""
    return f"posttrain-{stage}"


def claim_out(out: str | Path, stage: str, *, inputs: dict[str, str | None] | None = None, resume: bool = False,
              overwrite: bool = False) -> Path:
    """`out` once it may receive `stage`'s output (see the module docstring); refused before any work."""
    path = Path(out)
    refuse_control_characters(path, "--out")
    refuse_special(path)
    refuse_file_ancestor(path, "--out")
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {out}: is a file; name a directory for the sonar posttrain {stage} output")
    _refuse_inputs(path, out, inputs or {})
    if not path.exists() or not any(path.iterdir()):
        if resume:
            raise UserError(f"--resume: {out} holds no sonar posttrain {stage} run to resume; run without --resume"
                            " to start one")
        return path
    kind, foreign = _marked(path, stage)
    if kind != run_kind(stage):
        held = f"it holds a sonar {kind}" if kind else "sonar posttrain did not write it"
        raise UserError(f"--out {out}: is not empty and holds no sonar posttrain {stage} output ({held});"
                        " name a new or empty directory")
    if foreign:
        raise UserError(f"--out {out}: holds {len(foreign)} file(s) sonar did not write (e.g. {foreign[0]});"
                        " name a new or empty directory")
    if stage == "rl":
        if not resume:
            raise UserError(f"--out {out}: already holds a sonar posttrain rl run; pass --resume to continue it,"
                            " or choose another --out")
    elif stage in ("sft", "dpo", "distill"):
        if not overwrite:
            raise UserError(f"--out {out}: already holds the result of an earlier `sonar posttrain {stage}`; pass"
                            " --overwrite to replace it, or choose another --out")
    else:
        raise UserError(f"--out {out}: already holds a sonar posttrain {stage} run; choose another --out")
    return path


def _refuse_inputs(path: Path, out: str | Path, inputs: dict[str, str | None]) -> None:
    target = Path(os.path.realpath(path))
    for flag, given in inputs.items():
        if given is None:
            continue
        if not given.strip():  # read as the working directory, which then "overlaps" every --out inside it
            raise UserError(f"{flag} {given!r}: name a checkpoint directory")
        source = Path(os.path.realpath(given))
        if source == target or target in source.parents or source in target.parents:
            raise UserError(f"--out {out}: overlaps {flag} {given}, which this command reads; write the result to"
                            " another directory")


def _marked(path: Path, stage: str) -> tuple[str | None, list[str]]:
    """(the kind the marker records, files it does not list); an RL run from before runs were marked is
    known by its state file."""
    present = sorted(files_under(path))
    if MARKER not in present:
        if stage == "rl" and RL_STATE in present and not (path / "train_config.json").exists():
            return run_kind("rl"), []
        return None, []
    files, kind = read_marker_and_kind(path)
    listed = set(files) | {MARKER}
    return kind, [f for f in present if f not in listed and not _inside_listed_folder(f, files)]


def _inside_listed_folder(name: str, listed: list[str]) -> bool:
    """A file of a nested checkpoint (model/...) counts as listed when the marker lists that folder's files."""
    folder = name.rsplit("/", 1)[0] if "/" in name else ""
    return bool(folder) and any(f.startswith(folder + "/") for f in listed)


def mark_run(out: Path, stage: str, planned: tuple[str, ...] = ()) -> None:
    """Create `out` if need be and mark it as `stage`'s, listing the files of the run found there and `planned`."""
    out.mkdir(parents=True, exist_ok=True)
    listed = set(planned)
    if (out / MARKER).is_file():
        listed |= set(read_marker(out))
    listed |= {f for f in files_under(out) if f != MARKER and (f in listed or _inside_listed_folder(f, sorted(listed))
                                                            or _is_stage_file(f, stage))}
    write_marker(out, sorted(listed), run_kind(stage))


def _is_stage_file(name: str, stage: str) -> bool:
    """Files the stage itself writes into a directory it owns whole (all, tune: only its own files are there)."""
    if stage in ("all", "tune"):
        return True
    return name.split("/", 1)[0] in {"model", "state", "curve.json", RL_RUN_FILE, f"{stage}.json"}


def start_rl_run(out: Path, start: str) -> None:
    """Mark a new RL run and record its --from (the KL reference), which --resume must name again."""
    mark_run(out, "rl", planned=(RL_RUN_FILE, RL_STATE))
    write_atomic(out / RL_RUN_FILE, strict_json.dumps_strict({"from": os.path.realpath(start)}, indent=1).encode())


def forget_rl_start(out: Path) -> None:
    """Undo start_rl_run when the run ends before its first saved state: its marker and record alone made --out a
    run that a rerun was told to --resume, and --resume then found no state to continue."""
    if (out / RL_STATE).exists():
        return
    for name in (RL_RUN_FILE, MARKER):
        (out / name).unlink(missing_ok=True)
    try:
        (out / RL_STATE).parent.rmdir()
    except OSError:  # absent, or holding something
        pass


def check_rl_resume(out: Path, start: str) -> None:
    """--resume with another --from than the run started from is refused (its KL reference would change)."""
    path = out / RL_RUN_FILE
    if not path.is_file():
        return  # a run from before starts were recorded
    try:
        saved = strict_json.loads(path.read_text()).get("from")
    except (OSError, ValueError, AttributeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable RL run record ({err})".splitlines()[0]) from None
    if not isinstance(saved, str):  # else the check below was skipped, and any --from continued the run
        raise UserError(f"{path}: not a readable RL run record ('from' is {saved!r}, a checkpoint path is expected)")
    if saved != os.path.realpath(start):
        raise UserError(f"--from {start} differs from the checkpoint this RL run started from ({saved}), its KL"
                        " reference; --resume with the same --from, or start a new run with another --out")
