"""Read and write transformers' Llama4ForConditionalGeneration checkpoints as our multimodal model."""

from __future__ import annotations

from pathlib import Path

import torch

from sonar.checkpoint.files import CONFIG_FILE, config_from_file
from sonar.checkpoint.hf_multimodal_config import check_transformers_can_build, multimodal_from_hf, multimodal_to_hf
from sonar.checkpoint.io import (
    CheckpointError,
    check_load_arguments,
    check_save_arguments,
    check_state,
    one_dtype,
    read_config,
    read_tensors,
    retie,
    write_checkpoint,
)
from sonar.checkpoint.provenance import checkpoint_provenance, model_provenance
from sonar.checkpoint.vision_keys import from_hf_multimodal_key, to_hf_multimodal_key
from sonar.errors import UserError
from sonar.model.config import ConfigError
from sonar.model.fusion import Llama4MultimodalModel
from sonar.model.rope import inverse_frequencies
from sonar.model.weight_storage import store_linears


def load_multimodal(path: str | Path, *, dtype: torch.dtype | None = None,
                    linear_storage: str = "wide_input_major") -> Llama4MultimodalModel:
    """A transformers Llama4ForConditionalGeneration directory as a Llama4MultimodalModel (the decoder's
    linears stored as sonar.model.weight_storage says)."""
    path = check_load_arguments(path, dtype, linear_storage)
    hf_config = read_config(path)
    config = config_from_file(path, multimodal_from_hf, hf_config)
    try:
        # what transformers fixes whatever the file says (the vision norm's eps, a projector without bias): read
        # as written, the checkpoint ran with other math here than in transformers, or failed on a missing bias
        check_transformers_can_build(config.vision)
    except ConfigError as err:
        raise ConfigError(f"{Path(path) / CONFIG_FILE}: {err}") from None
    with torch.device("meta"):
        model = Llama4MultimodalModel(config)
    state, unknown = {}, []
    for key, tensor in read_tensors(path).items():
        ours = from_hf_multimodal_key(key)
        if ours is None:
            unknown.append(key)
        else:
            state[ours] = tensor
    if unknown:
        raise CheckpointError(f"{path}: unexpected tensors {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
    _check_against(model, state, path)
    model.load_state_dict(one_dtype(state), assign=True, strict=True)
    retie(model.language_model, config.text.tie_word_embeddings)
    # Built on the meta device to skip a wasted random init; the text RoPE table is not in checkpoints.
    text = config.text
    model.language_model.inv_freq_F = inverse_frequencies(text.resolved_head_dim, text.rope_theta, text.rope_scaling)
    store_linears(model.language_model, linear_storage)
    if dtype is not None:
        model = model.to(dtype)
    model.sonar_provenance = checkpoint_provenance(path, hf_config)
    return model.eval()


def _check_against(model: Llama4MultimodalModel, state: dict[str, torch.Tensor], path) -> None:
    check_state(model, state, path, hf_name=to_hf_multimodal_key, tied=model.config.text.tie_word_embeddings,
                prefix="language_model.")


def save_multimodal(model: Llama4MultimodalModel, path: str | Path, *, max_shard_bytes: int = 2 << 30,
                    overwrite: bool = False) -> Path:
    """config.json + safetensors that transformers loads as Llama4ForConditionalGeneration (atomic;
    an existing directory is handled as save_pretrained does)."""
    if not isinstance(model, Llama4MultimodalModel):
        raise UserError(f"save_multimodal: expected a Llama4MultimodalModel, got {type(model).__name__}")
    path = check_save_arguments(path, max_shard_bytes, overwrite)
    config = multimodal_to_hf(model.config)
    state = {to_hf_multimodal_key(k): v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.text.tie_word_embeddings:
        state.pop("language_model.lm_head.weight", None)
    return write_checkpoint(state, config, path, max_shard_bytes=max_shard_bytes, overwrite=overwrite,
                            provenance=model_provenance(model))
