"""MultimodalConfig <-> transformers' Llama4Config dictionaries (config.json with text_config/vision_config)."""

from __future__ import annotations

from sonar.checkpoint.hf_config import from_hf, to_hf
from sonar.model.config import ConfigError
from sonar.model.multimodal_config import MultimodalConfig
from sonar.model.vision_config import VisionConfig

_VISION_SAME_NAME = (
    "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "num_channels",
    "image_size", "patch_size", "norm_eps", "pixel_shuffle_ratio", "projector_input_dim",
    "projector_output_dim", "vision_output_dim", "multi_modal_projector_bias", "initializer_range",
)
_TOKEN_IDS = ("boi_token_index", "eoi_token_index", "image_token_index")
# transformers builds these with fixed settings whatever config.json says; we refuse to pretend otherwise.
TRANSFORMERS_LAYERNORM_EPS = 1e-5
# Llama4VisionConfig's theta where config.json names none.
TRANSFORMERS_VISION_THETA = 10000.0


def read_square_sides(fields: dict) -> dict:
    """`fields` with a square image_size or patch_size written as [side, side] (as transformers may write it)
    read as the side; a non-square or empty list is left as it is, for the caller to refuse."""
    for name in ("image_size", "patch_size"):
        if isinstance(fields.get(name), list | tuple) and _square(fields[name]):
            fields[name] = fields[name][0]
    return fields


def _square(sides: list | tuple) -> bool:
    # compared, not put in a set: a side may be any JSON value, a list included; an image has two sides, and
    # [32, 32, 32] was read as a square of 32
    return len(sides) == 2 and sides[0] == sides[1]


def vision_from_hf(hf: dict) -> VisionConfig:
    if not isinstance(hf, dict):
        raise ConfigError(f"vision_config={hf!r}: must be an object")
    if hf.get("hidden_act", "gelu") != "gelu":
        raise ConfigError(f"vision hidden_act={hf['hidden_act']!r}: only 'gelu' is supported (Llama 4 uses exact GELU)")
    fields = {name: hf[name] for name in _VISION_SAME_NAME if name in hf}
    for name in ("image_size", "patch_size"):
        if isinstance(fields.get(name), list | tuple) and len(fields[name]) != 2:
            raise ConfigError(f"vision {name}={fields[name]}: expected a side or [height, width]")
        if isinstance(fields.get(name), list | tuple) and not _square(fields[name]):
            raise ConfigError(f"vision {name}={fields[name]}: only square sizes are supported")
    fields = read_square_sides(fields)
    theta = _vision_rope_theta(hf)
    if theta is not None:
        fields["rope_theta"] = theta
    return VisionConfig(**fields)


def _vision_rope_theta(hf: dict) -> object:
    """The vision RoPE theta as transformers reads it: rope_scaling, when set, in place of rope_parameters,
    and a top-level rope_theta where the mapping names none. As for the text config (hf_config), a file whose
    rope_parameters and older rope_scaling/rope_theta give different thetas is refused: which one its author
    meant cannot be told. None where the file names no theta."""
    for name in ("rope_parameters", "rope_scaling"):
        if hf.get(name) is not None and not isinstance(hf[name], dict):
            raise ConfigError(f"vision {name}={hf[name]!r}: expected a mapping (rope_type, rope_theta, ...)")
    params, scaling, top = hf.get("rope_parameters") or {}, hf.get("rope_scaling") or {}, hf.get("rope_theta")
    theta = _number(params.get("rope_theta", TRANSFORMERS_VISION_THETA if top is None else top))
    legacy = _number(scaling.get("rope_theta", top)) if scaling else _number(top)
    if not params:
        return legacy
    if legacy is not None and legacy != theta:
        older = "rope_scaling" if scaling else "rope_theta"
        raise ConfigError(f"vision rope_parameters and the older {older} describe different RoPE (rope_theta "
                          f"{theta!r} vs {legacy!r}): keep rope_parameters alone, or make the two agree")
    return theta


def _number(theta: object) -> object:
    # float() would read true as 1.0 and the text "1e4" as a number: anything but a number is VisionConfig's
    # to refuse, by name
    return float(theta) if isinstance(theta, int | float) and not isinstance(theta, bool) else theta


def multimodal_from_hf(hf: dict) -> MultimodalConfig:
    if not isinstance(hf, dict):
        raise ConfigError(f"multimodal_from_hf: expected a dict (a config.json's contents), got {type(hf).__name__}")
    if hf.get("model_type") != "llama4" or "vision_config" not in hf:
        raise ConfigError(
            f"config.json model_type={hf.get('model_type')!r}: a multimodal checkpoint needs model_type 'llama4'"
            " with text_config and vision_config"
        )
    ids = {name: hf[name] for name in _TOKEN_IDS if name in hf}
    return MultimodalConfig(text=from_hf(hf), vision=vision_from_hf(hf["vision_config"]), **ids)


def check_transformers_can_build(vision: VisionConfig) -> None:
    """transformers' Llama 4 hard-codes a few choices; a config that differs would load with other math."""
    if vision.norm_eps != TRANSFORMERS_LAYERNORM_EPS:
        raise ConfigError(f"vision norm_eps={vision.norm_eps}: transformers always uses {TRANSFORMERS_LAYERNORM_EPS}")
    if vision.multi_modal_projector_bias:
        raise ConfigError("multi_modal_projector_bias=True: transformers' projector has no bias")
    shuffled = round(vision.hidden_size / vision.pixel_shuffle_ratio**2)
    # transformers' pixel shuffle truncates its float sizes (side * ratio, hidden / ratio, hidden / ratio^2);
    # for some ratios one comes out one short (1/5: hidden * 24.999...), and the checkpoint we wrote would
    # load but fail on its first image.
    ratio, side = vision.pixel_shuffle_ratio, vision.patches_per_side
    fold = round(1 / ratio)
    truncated = (int(side * ratio), int(vision.hidden_size / ratio), int(vision.hidden_size / ratio**2))
    if truncated != (side // fold, vision.hidden_size * fold, shuffled):
        raise ConfigError(
            f"vision pixel_shuffle_ratio={ratio} with hidden_size={vision.hidden_size} and a {side}x{side} patch"
            f" grid: transformers computes its pixel shuffle sizes as {truncated} (truncating float products),"
            f" not {(side // fold, vision.hidden_size * fold, shuffled)}, and cannot run it"
        )
    if vision.intermediate_size != shuffled:
        raise ConfigError(
            f"vision intermediate_size={vision.intermediate_size}: transformers sizes the adapter's input by it,"
            f" so it must equal hidden_size / pixel_shuffle_ratio^2 = {shuffled}"
        )


def vision_to_hf(vision: VisionConfig) -> dict:
    hf = {name: getattr(vision, name) for name in _VISION_SAME_NAME}
    hf.update(
        hidden_act="gelu", rope_parameters={"rope_type": "default", "rope_theta": vision.rope_theta},
        vision_feature_select_strategy="default", model_type="llama4_vision_model",
    )
    return hf


def multimodal_to_hf(config: MultimodalConfig) -> dict:
    if not isinstance(config, MultimodalConfig):
        raise ConfigError(f"config: expected a MultimodalConfig, got {type(config).__name__}")
    check_transformers_can_build(config.vision)
    text = to_hf(config.text)
    text.pop("architectures")
    return {
        "model_type": "llama4",
        "architectures": ["Llama4ForConditionalGeneration"],
        "text_config": text,
        "vision_config": vision_to_hf(config.vision),
        **{name: getattr(config, name) for name in _TOKEN_IDS},
        "tie_word_embeddings": False,
    }
