"""Early fusion: image features take the place of the `<|patch|>` token embeddings, then the text decoder
runs as usual (its causal and chunked masks; images get no special mask).

Shape legend: B batch, T tokens, D text width, N tiles, G tokens per tile, E adapter width, I image tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from sonar.errors import UserError
from sonar.model.cache import KVCache
from sonar.model.multimodal_config import MultimodalConfig
from sonar.model.transformer import (
    Llama4TextModel,
    ModelOutput,
    _readable_for_free,
    check_dtype,
    check_fits_memory,
    check_prompt,
    check_seed,
)
from sonar.model.vision import VisionEncoder
from sonar.model.vision_config import count_vision_parameters
from sonar.model.weight_storage import check_linear_storage, store_linears


def fuse(embeds_BTD: torch.Tensor, input_ids_BT: torch.Tensor, features_ID: torch.Tensor,
         image_token_id: int) -> torch.Tensor:
    """Fill the embeddings of the image tokens with `features_ID`, in reading order (row by row)."""
    mask_BT = input_ids_BT == image_token_id
    n_tokens, n_features = int(mask_BT.sum()), features_ID.shape[0]
    if n_tokens != n_features:
        raise UserError(
            f"the prompt has {n_tokens} image tokens (id {image_token_id}) but the images give {n_features}"
            " features: each tile needs exactly its tokens_per_tile patch tokens in the prompt"
        )
    return embeds_BTD.masked_scatter(mask_BT[..., None], features_ID.to(embeds_BTD.dtype))


def check_pixel_values(pixel_values: object, config: MultimodalConfig) -> None:
    """Tiles as given: a floating-point [tiles >= 1, C, S, S] tensor of finite values (read only on the CPU)."""
    C, S = config.vision.num_channels, config.vision.image_size
    if not isinstance(pixel_values, torch.Tensor):
        raise UserError(f"pixel_values is a {type(pixel_values).__name__}: pass a torch.Tensor [tiles, {C}, {S}, {S}]")
    if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != (C, S, S) or pixel_values.shape[0] == 0:
        raise UserError(f"pixel_values has shape {tuple(pixel_values.shape)}: expected [tiles >= 1, {C}, {S}, {S}]")
    if not pixel_values.is_floating_point():
        raise UserError(f"pixel_values have dtype {pixel_values.dtype}: must be floating-point (normalised pixels)")
    if _readable_for_free(pixel_values) and not bool(torch.isfinite(pixel_values).all()):
        raise UserError("pixel_values hold NaN or infinite values: every pixel must be a finite number")


class Llama4MultimodalModel(nn.Module):
    """model(input_ids [B,T], pixel_values [N,C,S,S] | None) -> ModelOutput with logits [B,T,V].

    `pixel_values` stacks the tiles of every image in the batch in prompt order; their features
    fill the prompt's `<|patch|>` tokens in the same order.
    """

    def __init__(self, config: MultimodalConfig) -> None:
        super().__init__()
        self.config = config
        self.language_model = Llama4TextModel(config.text)
        self.vision_model = VisionEncoder(config.vision)
        self.projector = nn.Linear(
            config.vision.vision_output_dim, config.text.hidden_size, bias=config.vision.multi_modal_projector_bias
        )
        self.reset_projector()

    @torch.no_grad()
    def reset_projector(self, generator: torch.Generator | None = None) -> None:
        self.projector.weight.normal_(0.0, self.config.text.initializer_range, generator=generator)
        if self.projector.bias is not None:
            self.projector.bias.zero_()

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[N, C, S, S] tiles -> [N*G, D] features in the text model's width."""
        check_pixel_values(pixel_values, self.config)
        encoder_dtype = next(self.vision_model.parameters()).dtype
        features_NGE = self.vision_model(pixel_values.to(encoder_dtype))
        return self.projector(features_NGE.reshape(-1, features_NGE.shape[-1]))

    def fused_embeddings(self, input_ids: torch.Tensor, pixel_values: torch.Tensor) -> torch.Tensor:
        check_prompt(input_ids, self.config.text.vocab_size, values=_readable_for_free(input_ids))
        embeds_BTD = self.language_model.embed(input_ids)
        return fuse(embeds_BTD, input_ids, self.image_features(pixel_values), self.config.image_token_index)

    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        *,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        output_router_logits: bool = False,
        inputs_embeds: torch.Tensor | None = None,
    ) -> ModelOutput:
        if pixel_values is not None and inputs_embeds is not None:
            raise UserError("pass pixel_values or inputs_embeds, not both: inputs_embeds already holds the fusion")
        if pixel_values is not None:
            inputs_embeds = self.fused_embeddings(input_ids, pixel_values)
        return self.language_model(
            input_ids, positions=positions, cache=cache, output_router_logits=output_router_logits,
            inputs_embeds=inputs_embeds,
        )


def build_multimodal_model(config: MultimodalConfig, *, seed: int = 0, dtype: torch.dtype = torch.float32,
                           linear_storage: str = "wide_input_major") -> Llama4MultimodalModel:
    """A randomly initialised multimodal model, deterministic for a seed; the decoder's linears stored as
    weight_storage.py says (the vision tower runs every patch as a batch, so it keeps the row-major layout)."""
    if not isinstance(config, MultimodalConfig):
        raise UserError(f"config: expected a MultimodalConfig, got {type(config).__name__}")
    check_seed(seed)
    check_dtype(dtype)
    check_linear_storage(linear_storage)
    check_fits_memory(config.text, count_vision_parameters(config.vision, config.text.hidden_size))
    generator = torch.Generator().manual_seed(int(seed))  # check_seed takes numpy integers, manual_seed does not
    with torch.device("cpu"):
        model = Llama4MultimodalModel(config)
    model.language_model.reset_parameters(generator)
    model.vision_model.reset_parameters(generator)
    model.reset_projector(generator)
    store_linears(model.language_model, linear_storage)
    return model.to(dtype)
