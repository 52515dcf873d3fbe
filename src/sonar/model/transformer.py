"""The Llama 4 text decoder: embedding, pre-norm blocks (attention + dense or MoE FFN), norm, untied head."""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field

import torch
from torch import nn

from sonar.errors import UserError
from sonar.model.attention import Attention
from sonar.model.cache import KVCache
from sonar.model.config import ModelConfig
from sonar.model.ffn import SwiGLU
from sonar.model.layout import LayerPlan, layer_plans
from sonar.model.moe import MoE
from sonar.model.norm import RMSNorm
from sonar.model.params import count_parameters
from sonar.model.rope import inverse_frequencies, rotation_tables
from sonar.model.weight_storage import check_linear_storage, store_linears


@dataclass
class ModelOutput:
    logits: torch.Tensor  # [B, T, V]
    router_logits: list[torch.Tensor] = field(default_factory=list)  # one [B*T, E] per MoE layer


class Block(nn.Module):
    def __init__(self, config: ModelConfig, plan: LayerPlan) -> None:
        super().__init__()
        self.plan = plan
        self.attn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = Attention(config, plan)
        self.ffn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        if plan.is_moe:
            self.ffn = MoE(
                dim=config.hidden_size, hidden=config.intermediate_size,
                n_experts=config.num_local_experts, top_k=config.num_experts_per_tok,
            )
        else:
            self.ffn = SwiGLU(config.hidden_size, config.intermediate_size_mlp)

    def forward(self, x_BTD, *, positions_T, rotation, cache, fresh, router_logits: list | None):
        h_BTD = x_BTD + self.attn(
            self.attn_norm(x_BTD), positions_T=positions_T, rotation=rotation, cache=cache, fresh=fresh
        )
        ffn_out = self.ffn(self.ffn_norm(h_BTD))
        if self.plan.is_moe:
            ffn_out, logits_TE = ffn_out
            if router_logits is not None:
                router_logits.append(logits_TE)
        return h_BTD + ffn_out


class Llama4TextModel(nn.Module):
    """model(input_ids [B,T]) -> ModelOutput with logits [B,T,V].

    Positions default to 0..T-1, a sequence that starts here. With a KVCache, pass `positions`
    ([T] absolute positions, the same for every row) to continue a sequence.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.plans = layer_plans(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Block(config, plan) for plan in self.plans)
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.embed.weight
        inv_freq_F = inverse_frequencies(config.resolved_head_dim, config.rope_theta, config.rope_scaling)
        self.register_buffer("inv_freq_F", inv_freq_F, persistent=False)
        self.reset_parameters()

    def _apply(self, fn, recurse=True):
        # module.to(bfloat16) casts every floating buffer: the RoPE frequencies stay float32, as transformers'
        # from_pretrained(dtype=...) keeps them (a bf16 table rounds every angle; logits moved by up to 0.1).
        super()._apply(fn, recurse)
        inv_freq_F = self.inv_freq_F
        if inv_freq_F.is_floating_point() and inv_freq_F.element_size() < 4 and not inv_freq_F.is_meta:
            config = self.config
            self.inv_freq_F = inverse_frequencies(
                config.resolved_head_dim, config.rope_theta, config.rope_scaling
            ).to(inv_freq_F.device)
        return self

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        std = self.config.initializer_range
        for name, param in self.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                param.normal_(0.0, std, generator=generator)

    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        output_router_logits: bool = False,
        inputs_embeds: torch.Tensor | None = None,
    ) -> ModelOutput:
        # The value check reads the ids back to the host: done where that is free (ids on the CPU, not
        # inside a torch.compile'd graph); the type, shape and dtype checks cost nothing anywhere.
        check_prompt(input_ids, self.config.vocab_size, values=_readable_for_free(input_ids))
        if inputs_embeds is not None:
            check_inputs_embeds(inputs_embeds, input_ids, self.config.hidden_size, dtype=self.embed.weight.dtype)
        if positions is not None:
            check_positions(positions, input_ids.shape[1], values=_readable_for_free(positions))
        if cache is not None and not isinstance(cache, KVCache):
            raise UserError(f"cache is a {type(cache).__name__}: pass a KVCache (KVCache.allocate) or None")
        if cache is not None:
            _check_fits_cache(self, cache, input_ids, positions)
        if not isinstance(output_router_logits, bool):
            raise UserError(f"output_router_logits={output_router_logits!r}: must be True or False")
        x_BTD = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        T = x_BTD.shape[1]
        fresh = positions is None
        if fresh:
            if cache is not None and cache.next_position != 0:
                raise UserError(
                    f"the cache already holds {cache.next_position} positions: pass `positions` to continue"
                )
            positions = torch.arange(T, device=x_BTD.device)
        rotation = rotation_tables(positions, self.inv_freq_F)
        router_logits: list | None = [] if output_router_logits else None
        for i, block in enumerate(self.layers):
            x_BTD = block(
                x_BTD, positions_T=positions, rotation=rotation,
                cache=None if cache is None else cache.layers[i], fresh=fresh, router_logits=router_logits,
            )
        logits_BTV = self.lm_head(self.norm(x_BTD))
        return ModelOutput(logits=logits_BTV, router_logits=router_logits or [])


MAX_SEED = 2**64 - 1  # the most torch's generators take; a larger seed overflows inside manual_seed


def build_model(config: ModelConfig, *, seed: int = 0, dtype: torch.dtype = torch.float32,
                linear_storage: str = "wide_input_major") -> Llama4TextModel:
    """A randomly initialised model, deterministic for a seed; linear weights stored as weight_storage.py says."""
    _check_build_arguments(config, seed, dtype)
    check_linear_storage(linear_storage)
    check_fits_memory(config)
    generator = torch.Generator().manual_seed(int(seed))  # check_seed takes numpy integers, manual_seed does not
    with torch.device("cpu"):
        model = Llama4TextModel(config)
    model.reset_parameters(generator)  # drawn row-major, then restrided: a seed gives the same values either way
    return store_linears(model, linear_storage).to(dtype)


def check_seed(seed: object, label: str = "seed=", most: int = MAX_SEED) -> None:
    """A seed as given: an integer in 0..`most`, so that a typo such as 1e23 is named here rather than
    overflowing inside torch; `label` prefixes the value ('--seed ' for a flag, 'seed=' for a setting)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):  # numpy integers are fine
        raise UserError(f"{label}{seed!r}: must be an integer")
    if not 0 <= seed <= most:
        raise UserError(f"{label}{seed}: must be between 0 and {most:,}")


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_memory(config: ModelConfig, extra_params: int = 0) -> None:
    """Weights larger than the machine's memory (scout or maverick on a workstation) are refused before they
    are allocated: otherwise the kernel's out-of-memory killer ends the process without a word."""
    memory = machine_memory()
    if memory is None:  # not knowable on this platform: nothing to compare with
        return
    params = count_parameters(config).total + extra_params  # extra: a vision tower, say
    need = params * 4  # built in float32 whatever the final dtype
    if need > memory:
        raise UserError(f"a model of {params / 1e9:.1f}B parameters needs {need / 1e9:,.0f} GB to build (float32), "
                        f"more than this machine's {memory / 1e9:,.0f} GB of memory")


# The id dtypes an embedding lookup takes; a smaller one (int8, uint8) cannot even hold most vocabularies.
ID_DTYPES = (torch.int64, torch.int32)


def _readable_for_free(input_ids) -> bool:
    """Whether checking the ids' values costs no device sync and no graph break: a CPU tensor, eagerly."""
    return (isinstance(input_ids, torch.Tensor) and input_ids.device.type == "cpu"
            and not torch.compiler.is_compiling())


def check_prompt(input_ids, vocab_size: int, *, values: bool = True) -> None:
    """Raise UserError unless `input_ids` is a non-empty [batch, length] integer tensor of ids in
    [0, vocab_size), naming the first bad id (the embedding would only say "index out of range in self").
    `values=False` checks only type, shape and dtype, which costs nothing and never reads the device."""
    if not isinstance(input_ids, torch.Tensor):
        raise UserError(f"input_ids is a {type(input_ids).__name__}: pass a torch.Tensor of token ids [batch, length]")
    if input_ids.dim() != 2 or input_ids.numel() == 0:
        raise UserError(f"input_ids must be a non-empty [batch, length] tensor, got shape {tuple(input_ids.shape)}")
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise UserError(f"input_ids have dtype {input_ids.dtype}: token ids must be integers")
    if input_ids.dtype not in ID_DTYPES:
        raise UserError(f"input_ids have dtype {input_ids.dtype}: token ids must be torch.int64 (long) or torch.int32")
    if not values:
        return
    low, high = (int(v) for v in torch.aminmax(input_ids))
    if low < 0 or high >= vocab_size:
        bad = (input_ids < 0) | (input_ids >= vocab_size)
        position = tuple(int(i) for i in bad.nonzero()[0])
        raise UserError(f"input_ids{list(position)} = {int(input_ids[position])}: outside the model's vocabulary "
                        f"(ids 0..{vocab_size - 1}, vocab_size={vocab_size})")


def check_inputs_embeds(inputs_embeds, input_ids: torch.Tensor, hidden_size: int,
                        dtype: torch.dtype | None = None) -> None:
    """`inputs_embeds` stands in for the embeddings of `input_ids`: a floating-point [batch, length, hidden_size],
    no wider than the model's embeddings' `dtype` when that is given."""
    if not isinstance(inputs_embeds, torch.Tensor):
        raise UserError(f"inputs_embeds is a {type(inputs_embeds).__name__}: pass a torch.Tensor "
                        f"[batch, length, hidden_size] or None")
    expected = (*input_ids.shape, hidden_size)
    if tuple(inputs_embeds.shape) != expected:
        raise UserError(f"inputs_embeds has shape {tuple(inputs_embeds.shape)}: expected {expected} "
                        f"([batch, length] of input_ids, then the model's hidden_size)")
    if not inputs_embeds.is_floating_point():
        raise UserError(f"inputs_embeds have dtype {inputs_embeds.dtype}: must be floating-point")
    # A narrower dtype is promoted by the first norm's weight; a wider one (float64 into float32 weights) ran
    # on to a dtype mismatch inside the first matmul.
    if dtype is not None and torch.promote_types(inputs_embeds.dtype, dtype) != dtype:
        raise UserError(f"inputs_embeds have dtype {inputs_embeds.dtype}, wider than the model's {dtype}: "
                        f"pass inputs_embeds.to({dtype})")


def check_positions(positions, length: int, *, values: bool = True) -> None:
    """`positions`: one absolute position per input token, [length] integers >= 0 (the same for every row).
    `values=False` checks only type, shape and dtype, which never reads the device."""
    if not isinstance(positions, torch.Tensor):
        raise UserError(f"positions is a {type(positions).__name__}: pass a torch.Tensor [length] of absolute "
                        "positions, or None for 0..length-1")
    if tuple(positions.shape) != (length,):
        raise UserError(f"positions has shape {tuple(positions.shape)}: expected ({length},), one absolute "
                        "position per input token")
    if positions.is_floating_point() or positions.is_complex() or positions.dtype == torch.bool:
        raise UserError(f"positions have dtype {positions.dtype}: positions must be integers")
    if values and length and int(positions.min()) < 0:  # RoPE turned the other way and the causal mask read it
        raise UserError(f"positions hold {int(positions.min())}: absolute positions are >= 0")


def _check_fits_cache(model: Llama4TextModel, cache: KVCache, input_ids: torch.Tensor,
                      positions: torch.Tensor | None) -> None:
    """A cache of another batch, or too short for the positions written, failed inside index_copy_ with a
    RuntimeError or IndexError about slice shapes and dimension 2."""
    config = model.config
    first = next((layer for layer in cache.layers if layer is not None), None)  # every layer has the same heads
    if len(cache.layers) != len(model.layers) or (
            first is not None and tuple(first.k_BKSD.shape[1::2]) != (config.num_key_value_heads,
                                                                    config.resolved_head_dim)):
        # allocated for another model: an IndexError, or a RuntimeError from index_copy_ about slice shapes
        raise UserError("the cache was allocated for another model (its layers, key-value heads or head_dim differ):"
                        " allocate it with KVCache.allocate(this model, ...)")
    batch = first.k_BKSD.shape[0] if first is not None else input_ids.shape[0]
    if batch != input_ids.shape[0]:
        raise UserError(f"the cache holds a batch of {batch} rows, input_ids {input_ids.shape[0]}: allocate the cache"
                        " with the batch it will decode")
    if positions is None:
        last = input_ids.shape[1] - 1
    elif _readable_for_free(positions):
        last = int(positions.max())
    else:
        return
    if last >= cache.max_len:
        raise UserError(f"position {last:,} is past the cache's max_len={cache.max_len:,}: allocate the cache with"
                        " room for the whole sequence")


def _check_build_arguments(config: object, seed: object, dtype: object) -> None:
    """build_model is public API: a wrong argument is a UserError naming it, not a failure deep in torch."""
    if not isinstance(config, ModelConfig):
        hint = f"; for a preset use build_model(preset({config!r}))" if isinstance(config, str) else ""
        raise UserError(f"config: expected a ModelConfig, got {type(config).__name__}{hint}")
    check_seed(seed)
    check_dtype(dtype)


def check_dtype(dtype: object) -> None:
    """A model's dtype as given: a floating-point torch.dtype, not a name such as 'bf16' or an integer type."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise UserError(f"dtype={dtype!r}: must be a floating-point torch.dtype, e.g. torch.float32 or torch.bfloat16")
