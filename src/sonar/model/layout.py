"""The per-layer plan, resolved once from the config: the only place with layer-index arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

from sonar.model.config import ModelConfig, derived_moe_layers, derived_nope_layers, require_model_config


@dataclass(kw_only=True, frozen=True, slots=True)
class LayerPlan:
    index: int
    use_rope: bool  # False: a NoPE layer
    chunked_mask: bool  # True: attend within fixed chunks; False: global causal
    use_qk_norm: bool
    temperature_tuning: bool  # scale queries by position (NoPE layers only)
    is_moe: bool


def nope_layer_indices(config: ModelConfig) -> tuple[int, ...]:
    return config.nope_layers if config.nope_layers is not None else derived_nope_layers(config)


def moe_layer_indices(config: ModelConfig) -> tuple[int, ...]:
    return config.moe_layers if config.moe_layers is not None else derived_moe_layers(config)


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
