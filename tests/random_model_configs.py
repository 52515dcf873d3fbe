"""Seeded random text-model configurations: every knob drawn together (heads, kv heads, explicit head_dim,
experts and top-k, MoE/dense interleave and explicit layer lists, NoPE layers, chunk sizes including none,
QK-norm, temperature tuning, RoPE scaling, tied embeddings). A draw is a pure function of its seed."""

import random

from sonar.model import ModelConfig, RopeScaling


def random_config(seed: int) -> ModelConfig:
    r = random.Random(seed)
    heads = r.choice([1, 2, 3, 4, 6, 8])
    kv_heads = r.choice([k for k in (1, 2, 3, 4, 6, 8) if heads % k == 0])
    hidden = r.choice([16, 24, 32, 48, 64, 96])
    head_dim = r.choice([None, 8, 16, 24, 32])
    if head_dim is None and (hidden % heads or (hidden // heads) % 2):
        head_dim = 16  # the derived one would not be a whole, even size
    layers = r.randint(1, 5)
    experts = r.randint(1, 8)
    fields = dict(
        vocab_size=r.choice([64, 100, 257]), hidden_size=hidden, intermediate_size=r.choice([8, 24, 64]),
        intermediate_size_mlp=r.choice([16, 40, 128]), num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv_heads, head_dim=head_dim, num_local_experts=experts,
        num_experts_per_tok=r.randint(1, experts), interleave_moe_layer_step=r.randint(1, 3),
        no_rope_layer_interval=r.randint(1, 5), attention_chunk_size=r.choice([None, 4, 8, 16, 33]),
        use_qk_norm=r.random() < 0.5, attn_temperature_tuning=r.random() < 0.5, floor_scale=r.choice([2, 8, 8192]),
        attn_scale=r.choice([0.0, 0.1, 0.7]), rope_theta=r.choice([10000.0, 500000.0]),
        tie_word_embeddings=r.random() < 0.3, initializer_range=0.08, max_position_embeddings=256,
    )
    if r.random() < 0.3:
        fields["rope_scaling"] = RopeScaling(factor=r.choice([2.0, 8.0]), low_freq_factor=1.0,
                                             high_freq_factor=r.choice([1.0, 4.0]),
                                             original_max_position_embeddings=r.choice([16, 32]))
    if r.random() < 0.2:
        fields["moe_layers"] = tuple(sorted(r.sample(range(layers), r.randint(0, layers))))
    if r.random() < 0.2:
        fields["nope_layers"] = tuple(sorted(r.sample(range(layers), r.randint(0, layers))))
    return ModelConfig(**fields)
