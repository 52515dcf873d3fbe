"""The per-layer plan, resolved once from the config: the only place with layer-index arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

from sonar.model.config import ModelConfig, require_model_config


@dataclass(kw_only=True, frozen=True, slots=True)
class LayerPlan:
    index: int
    use_rope: bool  # False: a NoPE layer
    chunked_mask: bool  # True: attend within fixed chunks; False: global causal
    use_qk_norm: bool
    temperature_tuning: bool  # scale queries by position (NoPE layers only)
    is_moe: bool


def nope_layer_indices(config: ModelConfig) -> tuple[int, ...]:
    if config.nope_layers is not None:
        return tuple(sorted(config.nope_layers))
    interval = config.no_rope_layer_interval
    return tuple(i for i in range(config.num_hidden_layers) if (i + 1) % interval == 0)


def moe_layer_indices(config: ModelConfig) -> tuple[int, ...]:
    if config.moe_layers is not None:
        return tuple(sorted(config.moe_layers))
    step = config.interleave_moe_layer_step
    return tuple(range(step - 1, config.num_hidden_layers, step))


def layer_plans(config: ModelConfig) -> tuple[LayerPlan, ...]:
    require_model_config(config)
    nope = set(nope_layer_indices(config))
    moe = set(moe_layer_indices(config))
    plans = []
    for i in range(config.num_hidden_layers):
        use_rope = i not in nope
        plans.append(
            LayerPlan(
                index=i,
                use_rope=use_rope,
                chunked_mask=use_rope and config.attention_chunk_size is not None,
                use_qk_norm=use_rope and config.use_qk_norm,
                temperature_tuning=(not use_rope) and config.attn_temperature_tuning,
                is_moe=i in moe,
            )
        )
    return tuple(plans)
