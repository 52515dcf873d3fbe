"""The RL run's checkpoint: policy, optimizer, reference, curriculum, curve, RNG states and the step.

Plain data only (tensors, dicts, lists, numbers, strings), written to a temporary file and renamed,
and read with `torch.load(weights_only=True)` as every sonar checkpoint is: opening one never runs code.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from sonar.data.cache import write_atomic
from sonar.errors import UserError
from sonar.train.rng import capture_rng
from sonar.train.state import load_problem

RL_STATE_FILE = "rl_state.pt"
FORMAT = 1
_KEYS = ("format", "step", "policy", "optimizer", "reference", "curriculum", "curve", "rng", "settings")


def save_rl_state(path: Path, *, step: int, policy, optimizer, reference, curriculum: dict, curve: list[dict],
                  settings: dict) -> None:
    payload = {"format": FORMAT, "step": step, "policy": policy.state_dict(), "optimizer": optimizer.state_dict(),
               "reference": reference.state_dict(), "curriculum": curriculum, "curve": curve, "rng": capture_rng(),
               "settings": settings}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())


def load_rl_state(path: Path) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpicklable, truncated, not a torch file: all the user's file, not a bug
        raise UserError(f"cannot read RL state {path}: {load_problem(err, 'start the run afresh')}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or any(k not in payload for k in _KEYS):
        raise UserError(f"{path}: not an RL state of format {FORMAT}; delete it to start the run afresh")
    problem = _shape_problem(payload)
    if problem:  # else a TypeError, KeyError or AttributeError traceback once the run resumed
        raise UserError(f"{path}: not a readable RL state ({problem}); delete it to start the run afresh")
    return payload


def _shape_problem(payload: dict) -> str | None:
    step = payload["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return f"'step' must be an integer >= 0, got {step!r}"
    for key in ("policy", "reference", "optimizer", "rng", "settings", "curriculum"):
        if not isinstance(payload[key], dict):
            return f"'{key}' must be a mapping, got {type(payload[key]).__name__}"
    if not isinstance(payload["curve"], list) or not all(isinstance(point, dict) for point in payload["curve"]):
        return "'curve' must be a list of objects"
    if "level" not in payload["curriculum"] or not isinstance(payload["curriculum"].get("recent"), list):
        return "'curriculum' must hold a 'level' and a 'recent' list"
    return None
