"""The training checkpoint: everything needed to continue a run as if it had never stopped.

It holds the model and optimizer states, the step (which is also the data position, see
sonar.data.batches), the schedule's settings, the RNG state, the per-step losses, the learning
curve, the accumulated cost and the expert load. Written to a temporary file, then renamed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sonar.data.cache import write_atomic
from sonar.errors import UserError

FORMAT_VERSION = 1
STATE_FILE = "train_state.pt"


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
        "state": state.__dict__,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": {"torch": torch.get_rng_state()},
        "data_position": {"step": state.step, "seed": train_config["data_seed"]},
        "model_config": model_config,
        "train_config": train_config,  # the schedule's settings travel with it
        "data_corpus_sha256": data_record["corpus_sha256"],
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise UserError(f"cannot read training checkpoint {path}: {err}".splitlines()[0]) from None
    if payload.get("format") != FORMAT_VERSION:
        raise UserError(f"{path}: checkpoint format {payload.get('format')!r}, this version reads {FORMAT_VERSION}")
    payload["state"] = TrainState(**payload["state"])
    return payload


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
