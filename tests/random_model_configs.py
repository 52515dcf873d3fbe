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


def wide_random_config(seed: int) -> ModelConfig:
    """Corners random_config never draws: a prime or two-token vocabulary, head counts of 5 and 7, widths no
    head count divides (head_dim set, down to 2), chunks of 1 to 3 tokens or longer than any prompt, layer
    lists that are empty or hold every layer, floor_scale 1 (the NoPE temperature moves every token), a RoPE
    base near 1, llama3 scaling with low_freq_factor != 1, other norm epsilons and special token ids."""
    r = random.Random(seed * 7 + 3)
    heads = r.choice([1, 2, 3, 5, 7, 8])
    layers = r.randint(1, 5)
    experts = r.choice([1, 2, 3, 5])
    vocab = r.choice([2, 17, 61, 131, 211])
    fields = dict(
        vocab_size=vocab, hidden_size=r.choice([8, 20, 28, 40, 56]), intermediate_size=r.choice([1, 7, 33]),
        intermediate_size_mlp=r.choice([1, 5, 77]), num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=r.choice([k for k in range(1, heads + 1) if heads % k == 0]),
        head_dim=r.choice([2, 6, 10, 18]), num_local_experts=experts,
        num_experts_per_tok=r.choice([1, experts]), interleave_moe_layer_step=r.choice([1, layers + 1]),
        no_rope_layer_interval=r.choice([1, 2, layers + 1]), attention_chunk_size=r.choice([1, 2, 3, 5, 1000]),
        use_qk_norm=r.random() < 0.5, attn_temperature_tuning=r.random() < 0.7, floor_scale=r.choice([1, 2, 3]),
        attn_scale=r.choice([0.1, 0.5]), rope_theta=r.choice([1.5, 100.0, 1e7]),
        rms_norm_eps=r.choice([1e-6, 1e-2]), tie_word_embeddings=r.random() < 0.35, initializer_range=0.08,
        max_position_embeddings=r.choice([64, 1000]), bos_token_id=r.randrange(vocab),
        eos_token_id=tuple(r.sample(range(vocab), r.randint(0, 2))), pad_token_id=r.choice([None, vocab - 1]),
    )
    if r.random() < 0.5:
        low = r.choice([0.5, 2.0])
        fields["rope_scaling"] = RopeScaling(factor=r.choice([1.0, 32.0]), low_freq_factor=low,
                                             high_freq_factor=low * r.choice([1.0, 8.0]),
                                             original_max_position_embeddings=r.choice([4, 100]))
    for name in ("moe_layers", "nope_layers"):
        fields[name] = r.choice([None, (), tuple(range(layers))])
    return ModelConfig(**fields)
