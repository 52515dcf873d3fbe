"""ModelConfig <-> transformers' Llama4TextConfig dictionaries (config.json)."""

from __future__ import annotations

import dataclasses

from sonar.model.config import ConfigError, ModelConfig, RopeScaling
from sonar.model.layout import layer_plans

# HF fields that do not change the math; carried through so a round trip keeps them.
_PASSTHROUGH = ("hidden_act", "attention_dropout", "router_jitter_noise", "attention_bias", "use_cache")

_SAME_NAME = (
    "vocab_size", "hidden_size", "intermediate_size", "intermediate_size_mlp", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "num_local_experts", "num_experts_per_tok",
    "interleave_moe_layer_step", "no_rope_layer_interval", "attention_chunk_size", "use_qk_norm",
    "floor_scale", "attn_scale", "rms_norm_eps", "max_position_embeddings", "tie_word_embeddings",
    "router_aux_loss_coef", "initializer_range", "bos_token_id", "pad_token_id",
)
# Llama4TextConfig's max_position_embeddings when config.json has none (sonar's own default is another).
_HF_MAX_POSITION_EMBEDDINGS = 4096 * 32
# The llama3 settings a rope_parameters mapping must name; its pretraining length transformers fills in.
_LLAMA3_KEYS = ("factor", "low_freq_factor", "high_freq_factor")


def text_config_dict(hf: dict) -> dict:
    """The text part of a config.json: itself for Llama4ForCausalLM, `text_config` for the multimodal one."""
    if hf.get("model_type") == "llama4":
        if "text_config" not in hf:
            raise ConfigError("config.json has model_type 'llama4' but no text_config")
        if not isinstance(hf["text_config"], dict):
            raise ConfigError(f"text_config={hf['text_config']!r}: must be an object")
        return hf["text_config"]
    if hf.get("model_type") not in (None, "llama4_text"):
        raise ConfigError(f"config.json model_type={hf.get('model_type')!r}: expected 'llama4_text' or 'llama4'")
    return hf


def from_hf(hf: dict) -> ModelConfig:
    if not isinstance(hf, dict):
        raise ConfigError(f"from_hf: expected a dict (a config.json's contents), got {type(hf).__name__}")
    hf = text_config_dict(hf)
    if hf.get("hidden_act", "silu") != "silu":
        raise ConfigError(f"hidden_act={hf['hidden_act']!r}: only 'silu' is supported (Llama 4 uses SwiGLU)")
    if hf.get("attention_bias"):
        raise ConfigError("attention_bias=true is not supported (Llama 4 attention has no biases)")
    fields = {name: hf[name] for name in _SAME_NAME if name in hf}
    theta, scaling = _rope_from_hf(hf)
    fields["rope_theta"] = theta
    fields["rope_scaling"] = scaling
    eos = hf.get("eos_token_id")
    fields["eos_token_id"] = () if eos is None else tuple(eos) if isinstance(eos, list) else (eos,)
    if hf.get("moe_layers") is not None:  # anything but a list is left for ModelConfig to refuse by name
        fields["moe_layers"] = tuple(hf["moe_layers"]) if isinstance(hf["moe_layers"], list) else hf["moe_layers"]
    flags = hf.get("no_rope_layers")
    if flags is not None and (not isinstance(flags, list)
                              or any(f not in (0, 1) or isinstance(f, float) for f in flags)):
        # read by truth value, the string "false" or a -1 would have meant "use RoPE" without a word
        raise ConfigError(f"no_rope_layers={str(flags)[:80]}: must be a list of 0 (a NoPE layer) or 1 (RoPE), one per "
                          "layer")
    layers = hf.get("num_hidden_layers")
    if flags and isinstance(layers, int) and len(flags) < layers:
        # transformers reads one flag per layer and fails on the first layer past the list; read as RoPE
        # layers here, the missing flags made a model transformers cannot build
        raise ConfigError(f"no_rope_layers={str(flags)[:80]}: {len(flags)} flags for num_hidden_layers={layers}, "
                          "need one per layer")
    if flags:  # an empty list means "derive from the interval", as transformers reads it
        fields["nope_layers"] = tuple(i for i, use_rope in enumerate(flags) if not use_rope)
    tuning = hf.get("attn_temperature_tuning", True)
    if not isinstance(tuning, bool | int):  # bool("false") is True: a string would be misread, not refused
        raise ConfigError(f"attn_temperature_tuning={tuning!r}: must be true or false (older files: an integer)")
    fields["attn_temperature_tuning"] = bool(tuning)  # older hub files store the int 4
    fields["extra"] = {k: hf[k] for k in _PASSTHROUGH if k in hf}
    return _with_layer_types(hf, ModelConfig(**fields))  # lists its intervals give read back as None


def _rope_from_hf(hf: dict) -> tuple[float, RopeScaling | None]:
    params = hf.get("rope_parameters")
    if params is None:  # transformers 4.x style
        return _rope_reading(_legacy_rope_parameters(hf), _pretraining_length(hf))
    if not isinstance(params, dict):
        raise ConfigError(f"rope_parameters={params!r}: expected a mapping (rope_type, rope_theta, ...)")
    if "rope_theta" not in params and "rope_theta" in hf:  # as transformers fills it in
        params = dict(params, rope_theta=hf["rope_theta"])
    reading = _rope_reading(params, _pretraining_length(hf))
    _check_legacy_rope_agrees(hf, reading)
    return reading


def _legacy_rope_parameters(hf: dict) -> dict:
    """The 4.x fields (rope_scaling beside a top-level rope_theta) as one rope_parameters mapping."""
    scaling = hf.get("rope_scaling")
    if scaling is not None and not isinstance(scaling, dict):  # dict() would take a list of pairs as one
        raise ConfigError(f"rope_scaling={scaling!r}: expected a mapping (rope_type, factor, ...) or null")
    params = dict(scaling or {})
    params.setdefault("rope_theta", hf.get("rope_theta", 500000.0))
    params.setdefault("rope_type", params.pop("type", "default"))
    return params


def _check_legacy_rope_agrees(hf: dict, reading: tuple[float, RopeScaling | None]) -> None:
    """A file with rope_parameters and the 4.x fields beside it: transformers builds from rope_scaling when
    there is one (rope_parameters then goes unread) and from rope_parameters' theta over a top-level one. Read
    from rope_parameters alone, a file whose two halves disagree ran with other RoPE here than in transformers;
    refused, since which half its author meant cannot be told."""
    legacy_theta = hf.get("rope_theta")
    if hf.get("rope_scaling"):
        legacy = _rope_reading(_legacy_rope_parameters(hf), _pretraining_length(hf))
    elif legacy_theta is not None:
        legacy = (legacy_theta, reading[1])  # only a theta to compare
    else:
        return
    differences = _rope_differences(reading, legacy)
    if differences:
        raise ConfigError(f"rope_parameters and the older rope_scaling/rope_theta fields describe different RoPE "
                          f"({differences}): keep rope_parameters alone, or make the two agree")


def _rope_differences(ours: tuple[float, RopeScaling | None], legacy: tuple[float, RopeScaling | None]) -> str:
    """'name rope_parameters' value vs the older fields' value' for each setting both readings have and differ in
    (a scaling factor of one side only goes without saying once the rope_type differs)."""
    first, second = _rope_settings(*ours), _rope_settings(*legacy)
    return "; ".join(f"{name} {first[name]!r} vs {second[name]!r}" for name in first
                     if name in second and first[name] != second[name])


def _rope_settings(theta: float, scaling: RopeScaling | None) -> dict:
    settings = {"rope_type": "default" if scaling is None else "llama3", "rope_theta": theta}
    return settings if scaling is None else settings | dataclasses.asdict(scaling)


def _pretraining_length(hf: dict) -> object:
    """The original_max_position_embeddings transformers gives a llama3 mapping that names none: the file's
    max_position_embeddings (a top-level original_max_position_embeddings is set only after, and unread)."""
    return hf.get("max_position_embeddings", _HF_MAX_POSITION_EMBEDDINGS)


def _rope_reading(params: dict, pretraining_length: object) -> tuple[float, RopeScaling | None]:
    """(theta, scaling) from a rope_parameters mapping; a llama3 one without original_max_position_embeddings
    reads `pretraining_length` there, as transformers' standardisation fills it in."""
    rope_type = params.get("rope_type", params.get("type", "default"))  # transformers reads "type" in its stead
    theta = params.get("rope_theta", 500000.0)
    # float() would read true as 1.0 and the text "1e5" as a number: only a JSON number is one
    theta = float(theta) if isinstance(theta, int | float) and not isinstance(theta, bool) else theta
    if rope_type == "default":
        return theta, None
    if rope_type != "llama3":
        raise ConfigError(f"rope_type={rope_type!r}: only 'default' and 'llama3' are supported")
    missing = [name for name in _LLAMA3_KEYS if name not in params]
    if missing:  # a bare KeyError named neither the mapping nor the rule
        raise ConfigError(f"rope_type 'llama3': missing key {', '.join(map(repr, missing))} (its scaling needs "
                          f"{', '.join(_LLAMA3_KEYS)}, and original_max_position_embeddings or else the file's "
                          "max_position_embeddings)")
    return theta, RopeScaling(
        factor=params["factor"], low_freq_factor=params["low_freq_factor"],
        high_freq_factor=params["high_freq_factor"],
        original_max_position_embeddings=params.get("original_max_position_embeddings", pretraining_length),
    )


def _with_layer_types(hf: dict, config: ModelConfig) -> ModelConfig:
    """`config` as the file's layer_types say it attends: chunked on the RoPE layers, or (every type
    "full_attention" though RoPE layers exist) globally everywhere, which is a chunk size of None."""
    layer_types = hf.get("layer_types")
    if layer_types is not None and not isinstance(layer_types, list):
        raise ConfigError(f"layer_types={layer_types!r}: must be a list of 'chunked_attention' or 'full_attention', "
                          "one per layer")
    if not layer_types or config.attention_chunk_size is None:
        return config  # without a chunk size every layer attends globally, whatever the types say
    derived = _layer_types(config)
    if (config.attention_chunk_size == config.max_position_embeddings and "chunked_attention" not in derived
            and list(layer_types) == derived):
        # to_hf writes this size for None (transformers needs a number); with every layer NoPE nothing else
        # tells the two apart, and a size no layer uses changes no number, so None reads back as None
        return config.replace(attention_chunk_size=None)
    if list(layer_types) == derived:
        return config
    if isinstance(layer_types, list) and set(layer_types) == {"full_attention"} and len(layer_types) == len(derived):
        return config.replace(attention_chunk_size=None)
    raise ConfigError(
        f"layer_types={layer_types} differs from the chunked-on-RoPE-layers rule ({derived}); unsupported"
    )


def _layer_types(config: ModelConfig) -> list[str]:
    return ["chunked_attention" if p.chunked_mask else "full_attention" for p in layer_plans(config)]


def to_hf(config: ModelConfig) -> dict:
    plans = layer_plans(config)
    hf = {name: getattr(config, name) for name in _SAME_NAME}
    hf["head_dim"] = config.resolved_head_dim
    hf.update(hidden_act="silu", attention_bias=False)
    hf.update({k: v for k, v in config.extra.items() if k not in hf})  # a clash with a written field: refused below
    hf["eos_token_id"] = list(config.eos_token_id) if len(config.eos_token_id) != 1 else config.eos_token_id[0]
    if not config.eos_token_id:
        hf["eos_token_id"] = None
    rope = {"rope_type": "default", "rope_theta": config.rope_theta}
    if config.rope_scaling is not None:
        s = config.rope_scaling
        rope.update(
            rope_type="llama3", factor=s.factor, low_freq_factor=s.low_freq_factor,
            high_freq_factor=s.high_freq_factor, original_max_position_embeddings=s.original_max_position_embeddings,
        )
    hf["rope_parameters"] = rope
    hf["moe_layers"] = [p.index for p in plans if p.is_moe]
    hf["no_rope_layers"] = [int(p.use_rope) for p in plans]
    hf["layer_types"] = _layer_types(config)
    if config.attention_chunk_size is None:
        # transformers builds its chunked mask whatever the layer types, and fails without a size; no layer
        # uses it (every type is full_attention), and reading the file back gives None again
        hf["attention_chunk_size"] = config.max_position_embeddings
    hf["attn_temperature_tuning"] = config.attn_temperature_tuning
    hf["model_type"] = "llama4_text"
    hf["architectures"] = ["Llama4ForCausalLM"]
    clashes = {k: v for k, v in config.extra.items() if hf[k] != v}
    if clashes:  # written as they came, the file would describe another model than the weights
        name, value = next(iter(clashes.items()))
        raise ConfigError(f"extra[{name!r}]={value!r}: contradicts the config's own {name}={hf[name]!r}; "
                          "extra carries only fields sonar does not write")
    return hf
