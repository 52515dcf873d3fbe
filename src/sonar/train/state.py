"""The training checkpoint: everything needed to continue a run as if it had never stopped.

It holds the model and optimizer states, the step (which is also the data position, see
sonar.data.batches), the schedule's settings, the RNG states, the per-step losses, the learning
curve, the accumulated cost and the expert load. Written to a temporary file, then renamed.

The file holds tensors and plain containers (dict, list, str, number, None) only, and is read with
`torch.load(weights_only=True)`: a checkpoint someone sent you can never run code when opened. Files
of format 1 had the same layout (with torch's RNG state only) and load the same way.
"""

from __future__ import annotations

import io
import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from sonar.data.cache import write_atomic
from sonar.errors import UserError
from sonar.train.rng import capture_rng

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
STATE_FILE = "train_state.pt"
_KEYS = ("state", "model", "optimizer", "rng", "model_config", "train_config", "data_corpus_sha256")


@dataclass(kw_only=True)
class TrainState:
    step: int = 0  # updates done; also the index of the next batch
    tokens: int = 0
    seconds: float = 0.0  # cumulative wall seconds spent training and evaluating
    losses: list[float] = field(default_factory=list)  # training cross-entropy of every step
    curve: list[dict] = field(default_factory=list)  # CurvePoint fields
    expert_counts: list[list[int]] = field(default_factory=list)


def save_checkpoint(path: Path, *, state: TrainState, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    model_config: dict, train_config: dict, data_record: dict) -> None:
    payload = {
        "format": FORMAT_VERSION,
        "state": dict(state.__dict__),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": capture_rng(),
        "data_position": {"step": state.step, "seed": train_config["data_seed"]},
        "model_config": model_config,
        "train_config": train_config,  # the schedule's settings travel with it
        "data_corpus_sha256": data_record["corpus_sha256"],
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    """The checkpoint's payload, its "state" a TrainState. Raises UserError for a file that is not a
    plain-data checkpoint of a readable format (including one that would need code to unpickle)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        refused = re.search(r"Unsupported global: (GLOBAL \S+)", str(err))
        if refused:
            raise UserError(
                f"{path}: refused to load, it holds objects that only code could rebuild ({refused.group(1)}); "
                "sonar reads training checkpoints as plain data only (tensors, dicts, lists, numbers, strings). "
                "If you trust its source, re-save it in that form; otherwise delete it to retrain from step 0"
            ) from None
        raise UserError(f"cannot read training checkpoint {path}: not a torch checkpoint ({_detail(err)})") from None
    except Exception as err:
        raise UserError(f"cannot read training checkpoint {path}: {load_problem(err, 'retrain from step 0')}") from None
    if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise UserError(f"{path}: checkpoint format {found!r}, this version reads {list(READABLE_FORMATS)}")
    missing = [key for key in _KEYS if key not in payload]
    if missing or not isinstance(payload["state"], dict) or set(payload["state"]) - {f.name for f in
                                                                                      fields(TrainState)}:
        raise UserError(f"{path}: not a complete training checkpoint (missing or malformed: {missing or ['state']})")
    payload["state"] = TrainState(**payload["state"])
    problem = _state_problem(payload)
    if problem:  # else a TypeError, KeyError or AttributeError traceback once the training resumed
        raise UserError(f"{path}: not a readable training checkpoint ({problem}); delete it to retrain from step 0")
    return payload


def _state_problem(payload: dict) -> str | None:
    """What makes a loaded checkpoint's plain data unusable (an edited or foreign file), or None."""
    state = payload["state"]
    for name in ("step", "tokens"):
        value = getattr(state, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"'{name}' must be an integer >= 0, got {value!r}"
    if isinstance(state.seconds, bool) or not isinstance(state.seconds, int | float) or not state.seconds >= 0:
        return f"'seconds' must be a number >= 0, got {state.seconds!r}"
    for name, item in (("losses", int | float), ("curve", dict), ("expert_counts", list)):
        value = getattr(state, name)
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            return f"'{name}' must be a list of {'numbers' if name == 'losses' else item.__name__ + 's'}"
    for key in ("model", "optimizer", "rng"):
        if not isinstance(payload[key], dict):
            return f"'{key}' must be a mapping, got {type(payload[key]).__name__}"
    return None


@contextmanager
def restoring(path: Path, what: str, remedy: str) -> Iterator[None]:
    """Loading saved tensors, optimizer or RNG states into a model: a key missing, a shape that differs or a
    state of the wrong form (an edited or foreign file) is one UserError naming `path`, not a traceback."""
    try:
        yield
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
        problem = f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]
        raise UserError(f"{path}: not a readable {what} ({problem}); {remedy}") from None


def load_problem(err: Exception, remedy: str) -> str:
    """Why torch.load failed on a file, in words. Junk or a cut-off file fails deep in the unpickler with a
    bare KeyError number, an empty EOFError or a struct error, none of which said the file was at fault."""
    first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
    if isinstance(err, OSError):  # unreadable, not unreadable as a checkpoint: deleting it is no advice
        return first or type(err).__name__
    return f"not a torch checkpoint, or cut off ({type(err).__name__}{': ' + first if first else ''}); delete it to" \
        f" {remedy}"


def _detail(err: Exception) -> str:
    """The line of torch's long unpickling message that says what was wrong."""
    lines = [line.strip() for line in str(err).split("WeightsUnpickler error:")[-1].splitlines() if line.strip()]
    return lines[0][:120] if lines else type(err).__name__


def check_compatible(payload: dict, path: Path, *, model_config: dict, train_config: dict,
                     data_record: dict) -> None:
    """A resume must continue the same trajectory; say which setting changed when it cannot."""
    if payload["model_config"] != model_config:
        changed = sorted(k for k in model_config if payload["model_config"].get(k) != model_config[k])
        raise UserError(f"{path} was trained with a different model config (changed: {changed})")
    saved = payload["train_config"]
    changed = sorted(k for k in train_config if saved.get(k) != train_config[k])
    if changed:
        raise UserError(f"{path} was trained with different training settings (changed: {changed})")
    if payload["data_corpus_sha256"] != data_record["corpus_sha256"]:
        raise UserError(f"{path} was trained on a different corpus")
