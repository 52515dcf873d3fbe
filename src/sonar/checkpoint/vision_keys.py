"""Our multimodal parameter names <-> transformers' Llama4ForConditionalGeneration names.

The decoder's names are keys.py's under `language_model.`; the encoder and projector are mapped here.
"""

from __future__ import annotations

from sonar.checkpoint.keys import apply_rules, from_hf_key, to_hf_key

TEXT_PREFIX = "language_model."

_VISION_RULES: tuple[tuple[str, str], ...] = (
    (r"^vision_model\.patch_embed\.weight$", "vision_model.patch_embedding.linear.weight"),
    (r"^vision_model\.class_embedding$", "vision_model.class_embedding"),
    (r"^vision_model\.positional_embedding$", "vision_model.positional_embedding_vlm"),
    (r"^vision_model\.norm_(pre|post)\.(weight|bias)$", r"vision_model.layernorm_\1.\2"),
    (r"^vision_model\.layers\.(\d+)\.attn_norm\.(weight|bias)$", r"vision_model.model.layers.\1.input_layernorm.\2"),
    (r"^vision_model\.layers\.(\d+)\.mlp_norm\.(weight|bias)$",
     r"vision_model.model.layers.\1.post_attention_layernorm.\2"),
    (r"^vision_model\.layers\.(\d+)\.attn\.(q|k|v|o)_proj\.(weight|bias)$",
     r"vision_model.model.layers.\1.self_attn.\2_proj.\3"),
    (r"^vision_model\.layers\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)$", r"vision_model.model.layers.\1.mlp.\2.\3"),
    (r"^vision_model\.adapter\.(fc1|fc2)\.weight$", r"vision_model.vision_adapter.mlp.\1.weight"),
    (r"^projector\.(weight|bias)$", r"multi_modal_projector.linear_1.\1"),
)
_VISION_INVERSE: tuple[tuple[str, str], ...] = (
    (r"^vision_model\.patch_embedding\.linear\.weight$", "vision_model.patch_embed.weight"),
    (r"^vision_model\.class_embedding$", "vision_model.class_embedding"),
    (r"^vision_model\.positional_embedding_vlm$", "vision_model.positional_embedding"),
    (r"^vision_model\.layernorm_(pre|post)\.(weight|bias)$", r"vision_model.norm_\1.\2"),
    (r"^vision_model\.model\.layers\.(\d+)\.input_layernorm\.(weight|bias)$", r"vision_model.layers.\1.attn_norm.\2"),
    (r"^vision_model\.model\.layers\.(\d+)\.post_attention_layernorm\.(weight|bias)$",
     r"vision_model.layers.\1.mlp_norm.\2"),
    (r"^vision_model\.model\.layers\.(\d+)\.self_attn\.(q|k|v|o)_proj\.(weight|bias)$",
     r"vision_model.layers.\1.attn.\2_proj.\3"),
    (r"^vision_model\.model\.layers\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)$", r"vision_model.layers.\1.mlp.\2.\3"),
    (r"^vision_model\.vision_adapter\.mlp\.(fc1|fc2)\.weight$", r"vision_model.adapter.\1.weight"),
    (r"^multi_modal_projector\.linear_1\.(weight|bias)$", r"projector.\1"),
)


def to_hf_multimodal_key(key: str) -> str:
    if key.startswith(TEXT_PREFIX):
        return TEXT_PREFIX + to_hf_key(key[len(TEXT_PREFIX):])
    mapped = apply_rules(_VISION_RULES, key)
    if mapped is None:
        raise KeyError(f"no transformers name for parameter {key!r}")
    return mapped


def from_hf_multimodal_key(key: str) -> str | None:
    """Our name for a Llama4ForConditionalGeneration key, or None when we have no such parameter."""
    if key.startswith(TEXT_PREFIX):
        ours = from_hf_key(key, TEXT_PREFIX)
        return None if ours is None else TEXT_PREFIX + ours
    return apply_rules(_VISION_INVERSE, key)


