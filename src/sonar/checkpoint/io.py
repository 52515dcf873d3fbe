"""Read and write transformers-format Llama 4 checkpoints: config.json + (sharded) safetensors."""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from sonar.checkpoint.files import (
    CONFIG_FILE,
    INDEX_FILE,
    SINGLE_FILE,
    CheckpointError,
    check_path,
    config_from_file,
    read_config,
    read_tensors,
    weight_files,
)
from sonar.checkpoint.hf_config import from_hf, to_hf
from sonar.checkpoint.keys import from_hf_key, to_hf_key
from sonar.checkpoint.llama_license import warn_if_misnamed, write_license_files
from sonar.checkpoint.provenance import (
    FROM_SCRATCH,
    PROVENANCE_FILE,
    checkpoint_provenance,
    derives_from_llama4,
    model_provenance,
    provenance_json,
)
from sonar.errors import UserError
from sonar.model.rope import inverse_frequencies
from sonar.model.transformer import Llama4TextModel, check_dtype
from sonar.model.weight_storage import check_linear_storage, store_linears
from sonar.outdir import writing

__all__ = ["CheckpointError", "check_state", "load_pretrained", "one_dtype", "read_config", "read_tensors",
           "save_pretrained", "weight_files", "write_checkpoint"]

# The floating-point dtypes a checkpoint may be stored in: those sonar's kernels compute in (float8 ones
# loaded, then failed on the first forward).
COMPUTE_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
# transformers' multimodal checkpoints keep the decoder under this prefix.
MULTIMODAL_TEXT_PREFIX = "language_model."


def load_pretrained(path: str | Path, *, dtype: torch.dtype | None = None,
                    linear_storage: str = "wide_input_major") -> Llama4TextModel:
    """A transformers Llama4ForCausalLM (or the text part of Llama4ForConditionalGeneration) as our model,
    its linear weights stored as sonar.model.weight_storage says (the values are the checkpoint's)."""
    path = check_load_arguments(path, dtype, linear_storage)
    hf_config = read_config(path)
    config = config_from_file(path, from_hf, hf_config)
    prefix = MULTIMODAL_TEXT_PREFIX if hf_config.get("model_type") == "llama4" else ""
    with torch.device("meta"):
        model = Llama4TextModel(config)
    state = _text_state_dict(read_tensors(path), prefix, path)
    _check_against(model, state, path)
    model.load_state_dict(one_dtype(state), assign=True, strict=True)
    retie(model, config.tie_word_embeddings)
    # Built on the meta device to skip a wasted random init; the RoPE table is not in checkpoints.
    model.inv_freq_F = inverse_frequencies(config.resolved_head_dim, config.rope_theta, config.rope_scaling)
    store_linears(model, linear_storage)
    if dtype is not None:
        model = model.to(dtype)
    model.sonar_provenance = checkpoint_provenance(path, hf_config)
    return model.eval()


def retie(text_model: Llama4TextModel, tied: bool) -> None:
    """The head shares the embedding's parameter again: load_state_dict(assign=True) gave each its own, so a
    tied model trained after loading moved them apart, and save_pretrained (which writes the embedding alone)
    then dropped every change to the head."""
    if tied:
        text_model.lm_head.weight = text_model.embed.weight


def check_load_arguments(path: object, dtype: object, linear_storage: object) -> Path:
    """load_pretrained's arguments, each a UserError naming it rather than a failure deep in torch."""
    path = check_path(path)
    if dtype is not None:
        check_dtype(dtype)
    check_linear_storage(linear_storage)
    return path


def check_save_arguments(path: object, max_shard_bytes: object, overwrite: object) -> Path:
    """save_pretrained's arguments, checked before anything is written."""
    path = check_path(path)
    if isinstance(max_shard_bytes, bool) or not isinstance(max_shard_bytes, numbers.Integral) or max_shard_bytes < 1:
        raise UserError(f"max_shard_bytes={max_shard_bytes!r}: must be an integer >= 1 (bytes per weight file)")
    if not isinstance(overwrite, bool):
        raise UserError(f"overwrite={overwrite!r}: must be True or False")
    return path


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
        if param.is_floating_point() and state[key].dtype not in COMPUTE_DTYPES:
            names = ", ".join(str(d).removeprefix("torch.") for d in COMPUTE_DTYPES)
            raise CheckpointError(f"{path}: tensor {hf_name(key)!r} has dtype {state[key].dtype}, expected a "
                                  f"floating-point dtype ({names})")
        if tuple(state[key].shape) != tuple(param.shape):
            raise CheckpointError(
                f"{path}: tensor {hf_name(key)!r} has shape {tuple(state[key].shape)},"
                f" expected {tuple(param.shape)}"
            )
    head, embed = f"{prefix}lm_head.weight", f"{prefix}embed.weight"
    if tied and state[head] is not state[embed] and not torch.equal(state[head], state[embed]):
        # transformers ties the head to the embeddings and drops this tensor: read, the model would compute other
        # logits than transformers from the same files
        raise CheckpointError(f"{path}: config.json sets tie_word_embeddings=true, but tensor {hf_name(head)!r} "
                              f"differs from {hf_name(embed)!r}; drop {hf_name(head)!r} or set "
                              "tie_word_embeddings=false")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(f"{path}: unexpected tensors {[hf_name(k) for k in extra]}")
    for key in expected:
        if state[key].is_floating_point() and not _finite(state[key]):
            # every output of the model would be NaN: eval scored it 0% and tune timed it, without a word
            raise CheckpointError(f"{path}: tensor {hf_name(key)!r} holds NaN or infinite values")


def one_dtype(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The floating-point tensors in the dtype that holds most of the weights: a checkpoint that keeps a few
    tensors (norms, a router) wider or narrower than the rest loads, where loading each tensor as stored
    made the first matmul of two dtypes fail deep in torch."""
    sizes: dict[torch.dtype, int] = {}
    for tensor in state.values():
        if tensor.is_floating_point():
            sizes[tensor.dtype] = sizes.get(tensor.dtype, 0) + tensor.numel()
    if len(sizes) < 2:
        return state
    main = max(sizes, key=sizes.get)
    return {k: v.to(main) if v.is_floating_point() else v for k, v in state.items()}


def _finite(tensor: torch.Tensor, chunk: int = 1 << 24) -> bool:
    """No NaN or inf in `tensor`, read in chunks (a whole-tensor mask of a large expert weight is GBs)."""
    flat = tensor.reshape(-1)
    return all(bool(torch.isfinite(flat[i:i + chunk]).all()) for i in range(0, flat.numel(), chunk))


def save_pretrained(model, path: str | Path, *, max_shard_bytes: int = 2 << 30, overwrite: bool = False) -> Path:
    """Write config.json and safetensors (sharded with an index past `max_shard_bytes`), staged and
    renamed into place, so a crash never leaves a half checkpoint. A directory holding files sonar did
    not write is refused unless `overwrite`, and even then only sonar's own files are replaced
    (sonar.outdir). A multimodal model is written as transformers' Llama4ForConditionalGeneration."""
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        raise UserError(f"save_pretrained: expected a sonar model (sonar.build_model or load_pretrained), "
                        f"got {type(model).__name__}")
    path = check_save_arguments(path, max_shard_bytes, overwrite)
    if hasattr(model, "vision_model"):
        from sonar.checkpoint.multimodal_io import save_multimodal

        return save_multimodal(model, path, max_shard_bytes=max_shard_bytes, overwrite=overwrite)
    state = {to_hf_key(k): v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    return write_checkpoint(state, to_hf(model.config), path, max_shard_bytes=max_shard_bytes, overwrite=overwrite,
                            provenance=model_provenance(model))


def write_checkpoint(state: dict[str, torch.Tensor], config: dict, path: str | Path, *,
                     max_shard_bytes: int = 2 << 30, overwrite: bool = False, provenance: dict | None = None) -> Path:
    """Tensors (already under transformers' names), config.json and the weights' provenance, written
    atomically; weights derived from Llama 4 also get its license notice (sonar.checkpoint.llama_license)."""
    path = check_save_arguments(path, max_shard_bytes, overwrite)
    check_tensors_hold_weights(state, path)
    if not isinstance(config, dict):  # dict() would take a list of pairs, or fail on anything else unnamed
        raise UserError(f"{path}: not written: config must be a dict (config.json's contents), got "
                        f"{type(config).__name__}")
    provenance = provenance or dict(FROM_SCRATCH)
    config = dict(config, dtype=str(next(iter(state.values())).dtype).removeprefix("torch."))
    with writing(path, kind="checkpoint", overwrite=overwrite) as staging:
        shards = _shard(state, max_shard_bytes)
        if len(shards) == 1:
            _save_shard(shards[0], staging / SINGLE_FILE)
        else:
            weight_map = {}
            for i, shard in enumerate(shards, 1):
                name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
                _save_shard(shard, staging / name)
                weight_map.update({k: name for k in shard})
            total = sum(t.numel() * t.element_size() for t in state.values())
            index = {"metadata": {"total_size": total}, "weight_map": weight_map}
            (staging / INDEX_FILE).write_text(json.dumps(index, indent=2))
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        (staging / PROVENANCE_FILE).write_text(provenance_json(provenance))
        if derives_from_llama4(provenance):
            write_license_files(staging, provenance)
    if derives_from_llama4(provenance):
        warn_if_misnamed(Path(path).name)
    return Path(path)


def check_tensors_hold_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """Every tensor has values to write, all finite; checked before anything is written. A meta-device model
    failed inside safetensors with "Cannot copy out of meta tensor; no data!", once the target's folders were
    made; NaN or inf weights (a diverged run) were written without a word, into a checkpoint load_pretrained
    then refused. An empty state failed with a bare StopIteration (reading its dtype), and anything but a
    mapping of names to tensors deep in safetensors."""
    if not isinstance(state, dict):
        raise UserError(f"{path}: not written: the state must be a dict of tensor names to tensors, got "
                        f"{type(state).__name__}")
    if not state:
        raise UserError(f"{path}: not written: the state holds no tensors (a checkpoint needs its weights)")
    for name, tensor in state.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise UserError(f"{path}: not written: entry {name!r} is a {type(tensor).__name__}; the state maps "
                            "tensor names (str) to tensors")
        if tensor.is_meta:
            raise UserError(f"{path}: not written: tensor {name!r} is on the meta device and holds no values (a model "
                            "built under torch.device('meta')); load or initialise its weights first")
        if tensor.is_floating_point() and not _finite(tensor):
            raise UserError(f"{path}: not written: tensor {name!r} holds NaN or infinite values (load_pretrained "
                            "refuses such a checkpoint)")


def _save_shard(tensors: dict[str, torch.Tensor], file: Path) -> None:
    try:
        save_file(tensors, str(file), metadata={"format": "pt"})
    except SafetensorError as err:  # its I/O failures (disk full) are OS errors in all but type
        raise OSError(f"{file.name}: {err}") from None


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
