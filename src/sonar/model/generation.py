"""Autoregressive generation with the static KV cache: one prefill, then one token per step."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable

import torch
from torch import nn

from sonar.errors import UserError
from sonar.model.cache import KVCache
from sonar.model.config import ModelConfig
from sonar.model.sampling import SamplingConfig, next_tokens
from sonar.model.transformer import check_inputs_embeds, check_prompt, check_seed

DecodeStep = Callable[..., torch.Tensor]

__all__ = ["check_inputs_embeds", "check_prompt", "decode_step", "generate"]


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
    text_config = _text_config(model)
    check_prompt(input_ids, text_config.vocab_size)
    max_new_tokens = _check_max_new_tokens(max_new_tokens, input_ids.shape[1], text_config.max_position_embeddings)
    if seed is not None:
        check_seed(seed)
    if not isinstance(use_cache, bool):
        raise UserError(f"use_cache={use_cache!r}: must be True or False")
    if not callable(step):  # else "'int' object is not callable" after the whole prefill had run
        raise UserError(f"step={step!r}: must be a function (model, token_B1, position_1, cache) -> logits")
    sampling = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p)
    stop_ids = _check_stop_tokens(stop_tokens, text_config.vocab_size)
    if pixel_values is not None and inputs_embeds is not None:
        raise UserError("pass pixel_values or inputs_embeds, not both: inputs_embeds already holds the fusion")
    if inputs_embeds is not None:
        check_inputs_embeds(inputs_embeds, input_ids, text_config.hidden_size)
        if not bool(torch.isfinite(inputs_embeds).all()):  # greedy decoding returned token 0 over and over
            raise UserError("inputs_embeds hold NaN or infinity: every logit would be NaN")
    if hasattr(model, "fused_embeddings"):  # multimodal: fuse the images once, then decode with the text model
        if pixel_values is not None:
            inputs_embeds = model.fused_embeddings(input_ids, pixel_values)
        model = model.language_model
    elif pixel_values is not None:
        raise UserError("pixel_values need a multimodal model (Llama4MultimodalModel)")
    # int(): check_seed takes numpy integers, and manual_seed fails on them ("an integer is required")
    generator = torch.Generator(device=input_ids.device).manual_seed(int(seed)) if seed is not None else None
    stops = torch.tensor(stop_ids, dtype=torch.long, device=input_ids.device)
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


def _text_config(model) -> ModelConfig:
    """The text decoder's config of a sonar model (text or multimodal); anything else is named."""
    text_model = getattr(model, "language_model", None) if hasattr(model, "fused_embeddings") else model
    config = getattr(text_model, "config", None) if isinstance(text_model, nn.Module) else None
    if not isinstance(config, ModelConfig):
        raise UserError(f"model: expected a sonar model (sonar.build_model or sonar.load_pretrained), "
                        f"got {type(model).__name__}")
    return config


def _check_max_new_tokens(max_new_tokens: object, prompt_length: int, max_positions: int) -> int:
    """An integer >= 0 whose sequence, prompt included, fits the model's max_position_embeddings."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral):
        raise UserError(f"max_new_tokens={max_new_tokens!r}: must be an integer >= 0")
    max_new_tokens = int(max_new_tokens)
    if max_new_tokens < 0:
        raise UserError(f"max_new_tokens={max_new_tokens}: must be >= 0")
    if prompt_length > max_positions:
        raise UserError(f"input_ids hold {prompt_length:,} tokens: more than the model's "
                        f"max_position_embeddings={max_positions:,}")
    if prompt_length + max_new_tokens > max_positions:
        raise UserError(f"max_new_tokens={max_new_tokens:,}: with the prompt's {prompt_length:,} tokens that is "
                        f"more than the model's max_position_embeddings={max_positions:,} "
                        f"(at most {max_positions - prompt_length:,} new tokens)")
    return max_new_tokens


def _check_stop_tokens(stop_tokens: object, vocab_size: int) -> list[int]:
    """Sorted distinct token ids from an iterable of integers, each inside the vocabulary."""
    if isinstance(stop_tokens, torch.Tensor) and not (stop_tokens.is_floating_point() or stop_tokens.is_complex()
                                                      or stop_tokens.dtype == torch.bool):
        stop_tokens = stop_tokens.flatten().tolist()
    if isinstance(stop_tokens, str | bytes | torch.Tensor) or not isinstance(stop_tokens, Iterable):
        raise UserError(f"stop_tokens={stop_tokens!r}: must be a list of token ids, e.g. [2]")
    stop_tokens = list(stop_tokens)
    for token in stop_tokens:
        if isinstance(token, bool) or not isinstance(token, numbers.Integral):
            raise UserError(f"stop_tokens holds {token!r}: token ids must be integers")
        if not 0 <= token < vocab_size:
            raise UserError(f"stop_tokens holds {token}: outside the model's vocabulary "
                            f"(ids 0..{vocab_size - 1}, vocab_size={vocab_size})")
    return sorted({int(t) for t in stop_tokens})


def _uncached_with_embeds(model, tokens: torch.Tensor, prompt_embeds: torch.Tensor) -> torch.Tensor:
    T = prompt_embeds.shape[1]
    embeds = torch.cat((prompt_embeds, model.embed(tokens[:, T:])), dim=1)
    return model(tokens, inputs_embeds=embeds).logits[:, -1]
