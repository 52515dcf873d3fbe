"""Named configurations: small ones that train here, and the real Llama 4 Scout and Maverick."""

from __future__ import annotations

from collections.abc import Callable

from sonar.model.config import ConfigError, ModelConfig, RopeScaling

_LLAMA4_TOKENS = dict(bos_token_id=200000, eos_token_id=(200001, 200007, 200008), pad_token_id=200018)


def debug() -> ModelConfig:
    """Seconds on a CPU: exercises every layer kind (RoPE+chunked, NoPE+global, MoE, dense)."""
    return ModelConfig(
        vocab_size=512, hidden_size=64, intermediate_size=96, intermediate_size_mlp=192,
        num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
        num_local_experts=4, num_experts_per_tok=1, interleave_moe_layer_step=2,
        no_rope_layer_interval=4, attention_chunk_size=32, use_qk_norm=True,
        max_position_embeddings=4096,
    )


def tiny() -> ModelConfig:
    return ModelConfig(
        vocab_size=4096, hidden_size=256, intermediate_size=512, intermediate_size_mlp=1024,
        num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
        num_local_experts=8, num_experts_per_tok=1, interleave_moe_layer_step=1,
        no_rope_layer_interval=4, attention_chunk_size=64, use_qk_norm=True,
        max_position_embeddings=8192,
    )


def small() -> ModelConfig:
    return ModelConfig(
        vocab_size=4096, hidden_size=512, intermediate_size=1024, intermediate_size_mlp=2048,
        num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
        num_local_experts=16, num_experts_per_tok=1, interleave_moe_layer_step=1,
        no_rope_layer_interval=4, attention_chunk_size=128, use_qk_norm=True,
        max_position_embeddings=8192,
    )


def medium() -> ModelConfig:
    """GPU-sized (about 2.5B parameters, 1B active per token): the largest preset one GPU trains
    quickly; its matmuls are wide enough for a step to be bound by the GPU's arithmetic."""
    return ModelConfig(
        vocab_size=32768, hidden_size=2048, intermediate_size=4096, intermediate_size_mlp=8192,
        num_hidden_layers=16, num_attention_heads=16, num_key_value_heads=4,
        num_local_experts=8, num_experts_per_tok=1, interleave_moe_layer_step=2,
        no_rope_layer_interval=4, attention_chunk_size=2048, use_qk_norm=True,
        max_position_embeddings=8192,
    )


def scout() -> ModelConfig:
    """Llama 4 Scout 17B-16E (Instruct context length)."""
    return ModelConfig(
        vocab_size=202048, hidden_size=5120, intermediate_size=8192, intermediate_size_mlp=16384,
        num_hidden_layers=48, num_attention_heads=40, num_key_value_heads=8, head_dim=128,
        rope_theta=500000.0, rope_scaling=RopeScaling(
            factor=16.0, low_freq_factor=1.0, high_freq_factor=1.0, original_max_position_embeddings=8192
        ),
        num_local_experts=16, num_experts_per_tok=1, interleave_moe_layer_step=1,
        no_rope_layer_interval=4, attention_chunk_size=8192, use_qk_norm=True,
        attn_temperature_tuning=True, floor_scale=8192, attn_scale=0.1,
        max_position_embeddings=10485760, **_LLAMA4_TOKENS,
    )


def maverick() -> ModelConfig:
    """Llama 4 Maverick 17B-128E (Instruct context length): dense and MoE layers interleaved."""
    return scout().replace(
        rope_scaling=None, num_local_experts=128, interleave_moe_layer_step=2, use_qk_norm=False,
        max_position_embeddings=1048576,
    )


PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "debug": debug, "tiny": tiny, "small": small, "medium": medium, "scout": scout, "maverick": maverick,
}


def preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]()
    except (KeyError, TypeError):  # TypeError: an unhashable name such as ["debug"]
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
