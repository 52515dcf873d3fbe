"""Autoregressive generation with the static KV cache: one prefill, then one token per step."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from sonar.errors import UserError
from sonar.model.cache import KVCache
from sonar.model.sampling import SamplingConfig, next_tokens
from sonar.model.transformer import check_seed

DecodeStep = Callable[..., torch.Tensor]


def decode_step(model, token_B1: torch.Tensor, position_1: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Logits [B, V] for one new token per row; the position is a tensor so a compiled step never
    recompiles as it advances."""
    return model(token_B1, positions=position_1, cache=cache).logits[:, -1]


@torch.inference_mode()
def generate(
    model,
    input_ids: torch.Tensor,
    *,
    max_new_tokens: int = 32,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_tokens: Iterable[int] = (),
    seed: int | None = None,
    use_cache: bool = True,
    inputs_embeds: torch.Tensor | None = None,
    pixel_values: torch.Tensor | None = None,
    step: DecodeStep = decode_step,
) -> torch.Tensor:
    """Returns [B, T + n] token ids, n <= max_new_tokens. Generation ends when every row has
    produced a stop token; finished rows are padded with the stop token they produced.
    `inputs_embeds` replaces the prompt's embeddings (image features fused in, say). With a multimodal
    model, `pixel_values` (its tiles, in prompt order) fill the prompt's image tokens."""
    text_model = model.language_model if hasattr(model, "fused_embeddings") else model
    check_prompt(input_ids, text_model.config.vocab_size)
    if max_new_tokens < 0:
        raise UserError(f"max_new_tokens={max_new_tokens}: must be >= 0")
    if seed is not None:
        check_seed(seed)
    if hasattr(model, "fused_embeddings"):  # multimodal: fuse the images once, then decode with the text model
        if pixel_values is not None:
            inputs_embeds = model.fused_embeddings(input_ids, pixel_values)
        model = model.language_model
    elif pixel_values is not None:
        raise UserError("pixel_values need a multimodal model (Llama4MultimodalModel)")
    sampling = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p)
    generator = torch.Generator(device=input_ids.device).manual_seed(seed) if seed is not None else None
    stops = torch.tensor(sorted(set(stop_tokens)), dtype=torch.long, device=input_ids.device)
    B, T = input_ids.shape
    tokens = input_ids
    if max_new_tokens == 0:
        return tokens
    finished_B = torch.zeros(B, dtype=torch.bool, device=input_ids.device)
    fill_B = torch.zeros(B, dtype=torch.long, device=input_ids.device)

    cache = KVCache.allocate(model, batch=B, max_len=T + max_new_tokens) if use_cache else None
    logits_BV = model(input_ids, cache=cache, inputs_embeds=inputs_embeds).logits[:, -1]
    if cache is not None:
        cache.next_position = T
    for i in range(max_new_tokens):
        new_B = next_tokens(logits_BV, sampling, generator)
        new_B = torch.where(finished_B, fill_B, new_B)
        if stops.numel():
            just_stopped_B = ~finished_B & torch.isin(new_B, stops)
            fill_B = torch.where(just_stopped_B, new_B, fill_B)
            finished_B |= just_stopped_B
        tokens = torch.cat((tokens, new_B[:, None]), dim=1)
        if bool(finished_B.all()) or i == max_new_tokens - 1:
            break
        if cache is None:
            logits_BV = model(tokens).logits[:, -1] if inputs_embeds is None else _uncached_with_embeds(
                model, tokens, inputs_embeds
            )
        else:
            position_1 = torch.tensor([T + i], device=tokens.device)
            logits_BV = step(model, new_B[:, None], position_1, cache)
            cache.next_position = T + i + 1
    return tokens


def check_prompt(input_ids, vocab_size: int) -> None:
    """Raise UserError unless `input_ids` is a non-empty [batch, length] integer tensor of ids in
    [0, vocab_size), naming the first bad id (the embedding would only say "index out of range in self")."""
    if not isinstance(input_ids, torch.Tensor):
        raise UserError(f"input_ids is a {type(input_ids).__name__}: pass a torch.Tensor of token ids [batch, length]")
    if input_ids.dim() != 2 or input_ids.numel() == 0:
        raise UserError(f"input_ids must be a non-empty [batch, length] tensor, got shape {tuple(input_ids.shape)}")
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise UserError(f"input_ids have dtype {input_ids.dtype}: token ids must be integers")
    bad = (input_ids < 0) | (input_ids >= vocab_size)
    if bool(bad.any()):
        position = tuple(int(i) for i in bad.nonzero()[0])
        raise UserError(f"input_ids{list(position)} = {int(input_ids[position])}: outside the model's vocabulary "
                        f"(ids 0..{vocab_size - 1}, vocab_size={vocab_size})")


def _uncached_with_embeds(model, tokens: torch.Tensor, prompt_embeds: torch.Tensor) -> torch.Tensor:
    T = prompt_embeds.shape[1]
    embeds = torch.cat((prompt_embeds, model.embed(tokens[:, T:])), dim=1)
    return model(tokens, inputs_embeds=embeds).logits[:, -1]
