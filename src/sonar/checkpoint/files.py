"""Reading a checkpoint directory's files (config.json, the shard index, safetensors): every way one
can be missing or malformed is one CheckpointError that names the file."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from safetensors import SafetensorError, safe_open

from sonar import strict_json
from sonar.errors import UserError

CONFIG_FILE = "config.json"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"

T = TypeVar("T")


class CheckpointError(UserError):
    """A checkpoint is missing, malformed, or does not match the model; the message names the file or key."""


def check_path(path: object, label: str = "path") -> Path:
    """A checkpoint directory as given to the Python API: a non-empty str or os.PathLike, as a Path."""
    if isinstance(path, bytes) or not isinstance(path, str | os.PathLike):
        raise UserError(f"{label}={path!r}: must be a directory path (str or pathlib.Path)")
    if not str(os.fspath(path)).strip():
        raise UserError(f"{label}={path!r}: must name a directory, not be empty")
    return Path(path)


def read_json_object(path: Path) -> dict:
    """A JSON file whose root is an object."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: cannot be read ({err})") from None
    if not text.strip():
        raise CheckpointError(f"{path}: is empty; expected a JSON object")
    try:
        data = strict_json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: invalid JSON ({err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: the root is a JSON {type(data).__name__}; expected an object")
    return data


def read_config(path: str | Path) -> dict:
    config_path = check_path(path) / CONFIG_FILE  # public: a number was a TypeError from Path()
    if not config_path.is_file():
        # a `sonar train` run or a posttrain output holds its checkpoint in model/: naming the run itself is common
        inside = Path(path) / "model"
        hint = f"; its checkpoint is {inside}: pass that" if (inside / CONFIG_FILE).is_file() else ""
        raise CheckpointError(f"{path}: no {CONFIG_FILE} (not a transformers checkpoint directory){hint}")
    return read_json_object(config_path)


def config_from_file(path: str | Path, convert: Callable[[dict], T], hf: dict | None = None) -> T:
    """`convert` (e.g. from_hf) applied to the directory's config.json (`hf`, when already read); a
    missing or ill-typed key becomes an error naming the file."""
    config_path = Path(path) / CONFIG_FILE
    hf = read_config(path) if hf is None else hf
    try:
        return convert(hf)
    except UserError as err:  # keeps its type (a ConfigError stays one), now naming the file
        raise type(err)(f"{config_path}: {err}") from None
    except KeyError as err:
        raise CheckpointError(f"{config_path}: missing key {err}") from None
    except (TypeError, ValueError, AttributeError) as err:  # a value of the wrong type somewhere in the file
        raise CheckpointError(f"{config_path}: invalid value ({err})") from None


def weight_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if (path / INDEX_FILE).is_file():
        weight_map = read_json_object(path / INDEX_FILE).get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise CheckpointError(f"{path / INDEX_FILE}: 'weight_map' must map tensor names to file names")
        names = sorted(set(weight_map.values()))
        outside = [n for n in names if Path(n).name != n]
        if outside:
            raise CheckpointError(f"{path / INDEX_FILE}: shard names must be plain file names, got {outside[:3]}")
        missing = [n for n in names if not (path / n).is_file()]
        if missing:
            raise CheckpointError(f"{path}: shards listed in {INDEX_FILE} are missing: {missing}")
        return [path / n for n in names]
    if (path / SINGLE_FILE).is_file():
        return [path / SINGLE_FILE]
    # Regular files only: opening a FIFO named w.safetensors waited for a writer forever.
    found = sorted(p for p in path.glob("*.safetensors") if p.is_file())
    if not found:
        raise CheckpointError(f"{path}: no safetensors weights found")
    return found


# torch allocates on 64-byte boundaries; safetensors hands tensors back at whatever offset its buffer had.
TENSOR_ALIGNMENT_BYTES = 64


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of the directory's weight files, each in memory aligned as torch aligns its own."""
    return {key: aligned(f.get_tensor(key)) for f, key in _tensor_names(path)}


def aligned(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor`, or a copy of it on a 64-byte boundary. The kernels' vector paths depend on where a weight
    starts: a model read back from disk with weights 24 bytes off computed logits up to 1 ulp away from
    the model that wrote them, and saving and loading must give the same numbers."""
    if tensor.data_ptr() % TENSOR_ALIGNMENT_BYTES == 0:
        return tensor
    return tensor.clone(memory_format=torch.preserve_format)


def _tensor_names(path: str | Path):
    """(open file, tensor name) for every tensor of every weight file; a name held by two files is refused
    (which copy is meant cannot be told: the later file silently won)."""
    held_by: dict[str, Path] = {}
    for file in weight_files(path):
        with _opened(file) as f:
            for key in f.keys():
                if key in held_by:
                    raise CheckpointError(f"{path}: tensor {key!r} is in two weight files, {held_by[key].name} "
                                          f"and {file.name}; keep one copy")
                held_by[key] = file
                yield f, key


def check_weights_readable(path: str | Path) -> None:
    """Every weight file's header parses and its size matches (a truncated file fails) and no tensor is
    in two files, without reading the tensors: a cheap check before handing the directory to a long job."""
    for _ in _tensor_names(path):
        pass


# What a weight file that is not safetensors most often is, by its first bytes.
_FOREIGN_FORMATS = ((b"PK\x03\x04", "a zip archive (torch.save's format), not safetensors"),
                    (b"\x80", "a Python pickle (torch.save's old format), not safetensors"),
                    (b"\x1f\x8b", "a gzip file, not safetensors"))


@contextlib.contextmanager
def _opened(file: Path):
    try:
        with safe_open(str(file), framework="pt") as f:
            yield f
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{file}: not a readable safetensors file ({_foreign_format(file) or err})") from None


def _foreign_format(file: Path) -> str | None:
    try:
        with open(file, "rb") as handle:
            start = handle.read(4)
    except OSError:
        return None
    return next((f"it looks like {what}" for magic, what in _FOREIGN_FORMATS if start.startswith(magic)), None)
