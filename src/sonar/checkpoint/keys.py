"""The one place that knows transformers' Llama 4 tensor names.

Ours -> transformers (Llama4ForCausalLM); the multimodal checkpoint nests the same names under
`language_model.`.
"""

from __future__ import annotations

import re

_RULES: tuple[tuple[str, str], ...] = (
    (r"^embed\.weight$", "model.embed_tokens.weight"),
    (r"^norm\.weight$", "model.norm.weight"),
    (r"^lm_head\.weight$", "lm_head.weight"),
    (r"^layers\.(\d+)\.attn_norm\.weight$", r"model.layers.\1.input_layernorm.weight"),
    (r"^layers\.(\d+)\.ffn_norm\.weight$", r"model.layers.\1.post_attention_layernorm.weight"),
    (r"^layers\.(\d+)\.attn\.(q|k|v|o)_proj\.weight$", r"model.layers.\1.self_attn.\2_proj.weight"),
    (r"^layers\.(\d+)\.ffn\.(.+)$", r"model.layers.\1.feed_forward.\2"),
)
_INVERSE: tuple[tuple[str, str], ...] = (
    (r"^model\.embed_tokens\.weight$", "embed.weight"),
    (r"^model\.norm\.weight$", "norm.weight"),
    (r"^lm_head\.weight$", "lm_head.weight"),
    (r"^model\.layers\.(\d+)\.input_layernorm\.weight$", r"layers.\1.attn_norm.weight"),
    (r"^model\.layers\.(\d+)\.post_attention_layernorm\.weight$", r"layers.\1.ffn_norm.weight"),
    (r"^model\.layers\.(\d+)\.self_attn\.(q|k|v|o)_proj\.weight$", r"layers.\1.attn.\2_proj.weight"),
    (r"^model\.layers\.(\d+)\.feed_forward\.(.+)$", r"layers.\1.ffn.\2"),
)


def apply_rules(rules, key: str) -> str | None:
    """The first rule whose pattern matches `key`, applied; None when none does."""
    for pattern, replacement in rules:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    return None


def to_hf_key(key: str) -> str:
    mapped = apply_rules(_RULES, key)
    if mapped is None:
        raise KeyError(f"no transformers name for parameter {key!r}")
    return mapped


def from_hf_key(key: str, prefix: str = "") -> str | None:
    """Our name for a transformers key, or None when the key is not part of the text decoder."""
    if prefix:
        if not key.startswith(prefix):
            return None
        key = key[len(prefix):]
    return apply_rules(_INVERSE, key)
