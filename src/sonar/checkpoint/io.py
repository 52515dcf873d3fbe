"""Read and write transformers-format Llama 4 checkpoints: config.json + (sharded) safetensors."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from sonar.checkpoint.hf_config import from_hf, to_hf
from sonar.checkpoint.keys import from_hf_key, to_hf_key
from sonar.errors import UserError
from sonar.model.rope import inverse_frequencies
from sonar.model.transformer import Llama4TextModel

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
# transformers' multimodal checkpoints keep the decoder under this prefix.
MULTIMODAL_TEXT_PREFIX = "language_model."


class CheckpointError(UserError):
    """A checkpoint is missing, malformed, or does not match the model; the message names the key."""


def read_config(path: str | Path) -> dict:
    config_path = Path(path) / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{path}: no config.json (not a transformers checkpoint directory)")
    return json.loads(config_path.read_text())


def weight_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if (path / INDEX_FILE).is_file():
        index = json.loads((path / INDEX_FILE).read_text())
        names = sorted(set(index["weight_map"].values()))
        missing = [n for n in names if not (path / n).is_file()]
        if missing:
            raise CheckpointError(f"{path}: shards listed in {INDEX_FILE} are missing: {missing}")
        return [path / n for n in names]
    if (path / SINGLE_FILE).is_file():
        return [path / SINGLE_FILE]
    found = sorted(path.glob("*.safetensors"))
    if not found:
        raise CheckpointError(f"{path}: no safetensors weights found")
    return found


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for file in weight_files(path):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    return tensors


def load_pretrained(path: str | Path, *, dtype: torch.dtype | None = None) -> Llama4TextModel:
    """A transformers Llama4ForCausalLM (or the text part of Llama4ForConditionalGeneration) as our model."""
    hf_config = read_config(path)
    config = from_hf(hf_config)
    prefix = MULTIMODAL_TEXT_PREFIX if hf_config.get("model_type") == "llama4" else ""
    with torch.device("meta"):
        model = Llama4TextModel(config)
    state = _text_state_dict(read_tensors(path), prefix, path)
    _check_against(model, state, path)
    model.load_state_dict(state, assign=True, strict=True)
    # Built on the meta device to skip a wasted random init; the RoPE table is not in checkpoints.
    model.inv_freq_F = inverse_frequencies(config.resolved_head_dim, config.rope_theta, config.rope_scaling)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def _text_state_dict(tensors: dict[str, torch.Tensor], prefix: str, path) -> dict[str, torch.Tensor]:
    state, unknown = {}, []
    for key, tensor in tensors.items():
        ours = from_hf_key(key, prefix)
        if ours is not None:
            state[ours] = tensor
        elif not prefix or key.startswith(prefix):
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"{path}: unexpected tensors {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
    return state


def _check_against(model: torch.nn.Module, state: dict[str, torch.Tensor], path) -> None:
    check_state(model, state, path, hf_name=to_hf_key, tied=model.config.tie_word_embeddings)


def check_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path, *, hf_name, tied: bool,
                prefix: str = "") -> None:
    """Every tensor the model expects is in `state` with its shape, and nothing else; errors name the
    transformers key. A tied head is filled from the embedding."""
    expected = dict(model.state_dict())
    if tied and f"{prefix}lm_head.weight" not in state:
        state[f"{prefix}lm_head.weight"] = state.get(f"{prefix}embed.weight")
    for key, param in expected.items():
        if state.get(key) is None:
            raise CheckpointError(f"{path}: missing tensor {hf_name(key)!r}")
        if tuple(state[key].shape) != tuple(param.shape):
            raise CheckpointError(
                f"{path}: tensor {hf_name(key)!r} has shape {tuple(state[key].shape)},"
                f" expected {tuple(param.shape)}"
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(f"{path}: unexpected tensors {[hf_name(k) for k in extra]}")


def save_pretrained(model, path: str | Path, *, max_shard_bytes: int = 2 << 30) -> Path:
    """Write config.json and safetensors (sharded with an index past `max_shard_bytes`).
    Files are written to a temporary directory first, so a crash never leaves a half checkpoint.
    A multimodal model is written as transformers' Llama4ForConditionalGeneration."""
    if hasattr(model, "vision_model"):
        from sonar.checkpoint.multimodal_io import save_multimodal

        return save_multimodal(model, path, max_shard_bytes=max_shard_bytes)
    state = {to_hf_key(k): v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    return write_checkpoint(state, to_hf(model.config), path, max_shard_bytes=max_shard_bytes)


def write_checkpoint(state: dict[str, torch.Tensor], config: dict, path: str | Path, *,
                     max_shard_bytes: int = 2 << 30) -> Path:
    """Tensors (already under transformers' names) and config.json, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = dict(config, dtype=str(next(iter(state.values())).dtype).removeprefix("torch."))
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    shards = _shard(state, max_shard_bytes)
    if len(shards) == 1:
        save_file(shards[0], str(staging / SINGLE_FILE), metadata={"format": "pt"})
    else:
        weight_map = {}
        for i, shard in enumerate(shards, 1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(staging / name), metadata={"format": "pt"})
            weight_map.update({k: name for k in shard})
        total = sum(t.numel() * t.element_size() for t in state.values())
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (staging / INDEX_FILE).write_text(json.dumps(index, indent=2))
    (staging / "config.json").write_text(json.dumps(config, indent=2))
    _replace_dir(staging, path)
    return path


def _shard(state: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    shards, current, size = [], {}, 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if current and size + nbytes > max_bytes:
            shards.append(current)
            current, size = {}, 0
        current[key] = tensor
        size += nbytes
    shards.append(current)
    return shards


def _replace_dir(staging: Path, target: Path) -> None:
    if target.exists():
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        target.rename(old)
        staging.rename(target)
        _rmtree(old)
    else:
        staging.rename(target)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
