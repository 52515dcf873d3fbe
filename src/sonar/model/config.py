"""ModelConfig: every Llama 4 text-decoder setting that changes the math, validated once."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from sonar.errors import UserError


class ConfigError(UserError):
    """A configuration value broke a rule; the message names the value and the rule."""


# The largest value each numeric field may take, in one place: far above any released Llama 4
# (Maverick: 202,048 tokens, 10M positions, 128 experts, 48 layers) and low enough that a value with a
# few zeros too many fails here rather than hanging a per-layer loop or an allocation. The search
# spec checks its choices and ranges against this table too.
FIELD_LIMITS: dict[str, float] = {
    "vocab_size": 2**20, "hidden_size": 2**20, "intermediate_size": 2**20, "intermediate_size_mlp": 2**20,
    "head_dim": 2**20, "num_hidden_layers": 4096, "num_attention_heads": 4096, "num_key_value_heads": 4096,
    "num_local_experts": 1024, "num_experts_per_tok": 1024, "interleave_moe_layer_step": 4096,
    "no_rope_layer_interval": 4096, "attention_chunk_size": 2**30, "floor_scale": 2**30,
    "max_position_embeddings": 2**30, "bos_token_id": 2**20, "pad_token_id": 2**20,
    "rope_theta": 1e12, "attn_scale": 1e3, "rms_norm_eps": 1.0, "router_aux_loss_coef": 1e3,
    "initializer_range": 1e3,
}
# The smallest value each numeric field may take on its own, and whether it may equal it: a search
# space's choices and ranges are checked against it when the spec is read, so a choice no architecture
# could ever take is named then, not skipped draw after draw.
FIELD_FLOORS: dict[str, tuple[float, bool]] = {
    **{name: (1, True) for name in (
        "vocab_size", "hidden_size", "intermediate_size", "intermediate_size_mlp", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "num_local_experts", "num_experts_per_tok",
        "interleave_moe_layer_step", "floor_scale", "max_position_embeddings", "no_rope_layer_interval",
        "attention_chunk_size")},
    "head_dim": (2, True), "rms_norm_eps": (0, False), "rope_theta": (0, False), "attn_scale": (0, True),
    "initializer_range": (0, True), "bos_token_id": (0, True), "pad_token_id": (0, True),
    "router_aux_loss_coef": (0, True),
}
_FLOOR_WORDS = {"attention_chunk_size": "chunk size must be >= 1 (or None)",
                "no_rope_layer_interval": "NoPE interval must be >= 1"}
_TOKEN_LISTS = ("moe_layers", "nope_layers", "eos_token_id")  # tuples of small non-negative ints
_BOOLEANS = ("use_qk_norm", "attn_temperature_tuning", "tie_word_embeddings")


def field_problem(name: str, value: object) -> str | None:
    """Why `value` cannot be ModelConfig field `name` on its own (type, finiteness, range, parity), or None.
    Rules between fields (divisibility, top-k <= experts) are ModelConfig's own."""
    limit = FIELD_LIMITS.get(name)
    if limit is not None and value is None and "None" not in _FIELD_KINDS[name]:
        return f"must be {'an integer' if _FIELD_KINDS[name].startswith('int') else 'a number'}, not None"
    if limit is not None and value is not None:
        integer = _FIELD_KINDS[name].startswith("int")
        if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
            return f"must be {'an integer' if integer else 'a number'}"
        if not math.isfinite(value):
            return "must be finite"
        if value > limit:
            return f"must be <= {limit:g}" if not integer else f"must be <= {int(limit):,}"
        floor, may_equal = FIELD_FLOORS.get(name, (-math.inf, True))
        if value < floor or (value == floor and not may_equal):
            return _FLOOR_WORDS.get(name, f"must be {'>=' if may_equal else '>'} {floor:g}")
        if name == "head_dim" and value % 2:
            return "must be even (RoPE rotates pairs)"
    if name in _BOOLEANS and not isinstance(value, bool):
        return "must be true or false"
    if name in _TOKEN_LISTS and value is None and "None" not in _FIELD_KINDS[name]:
        return "must be a list of integers (empty for none), not None"  # len(None) failed in save_pretrained
    if name in _TOKEN_LISTS and value is not None:
        if not isinstance(value, tuple | list):
            return "must be a list of integers"
        if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < 2**20 for i in value):
            return f"must hold integers in 0..{2**20 - 1}"
    return None


@dataclass(kw_only=True, frozen=True)
class RopeScaling:
    """Llama 3 frequency scaling (the only RoPE scaling Llama 4 ships with)."""

    factor: float = 16.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 1.0
    original_max_position_embeddings: int = 8192

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"rope_scaling.{f.name}={value!r}: must be a finite number")
            if f.type == "int" and not isinstance(value, int):
                raise ConfigError(f"rope_scaling.{f.name}={value!r}: must be an integer")
        if self.original_max_position_embeddings > FIELD_LIMITS["max_position_embeddings"]:
            raise ConfigError(f"rope_scaling.original_max_position_embeddings={self.original_max_position_embeddings}:"
                              f" must be <= {int(FIELD_LIMITS['max_position_embeddings']):,}")
        if self.factor <= 0:
            raise ConfigError(f"rope_scaling.factor={self.factor}: must be > 0")
        if self.low_freq_factor <= 0 or self.high_freq_factor < self.low_freq_factor:
            raise ConfigError(
                f"rope_scaling low_freq_factor={self.low_freq_factor}, high_freq_factor={self.high_freq_factor}:"
                " need 0 < low_freq_factor <= high_freq_factor"
            )
        if self.original_max_position_embeddings < 1:
            raise ConfigError(
                f"rope_scaling.original_max_position_embeddings={self.original_max_position_embeddings}: must be >= 1"
            )


@dataclass(kw_only=True, frozen=True)
class ModelConfig:
    """A Llama 4 text decoder. Field names follow transformers' Llama4TextConfig where one exists.

    Two fields differ in form from transformers, to say what they mean:
    `nope_layers` lists the indices of NoPE layers (transformers' `no_rope_layers` is a per-layer
    flag list where 1 means *RoPE*), and `moe_layers` lists MoE layer indices. Either left as None
    is derived from its interval, as transformers does; a list the interval would give becomes None.
    """

    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 512  # each routed expert and the shared expert
    intermediate_size_mlp: int = 1024  # dense FFN layers
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    num_key_value_heads: int = 2
    head_dim: int | None = None  # None: hidden_size // num_attention_heads
    rope_theta: float = 500000.0
    rope_scaling: RopeScaling | None = None
    num_local_experts: int = 8
    num_experts_per_tok: int = 1
    interleave_moe_layer_step: int = 1
    moe_layers: tuple[int, ...] | None = None
    no_rope_layer_interval: int = 4
    nope_layers: tuple[int, ...] | None = None
    attention_chunk_size: int | None = 8192
    use_qk_norm: bool = True
    attn_temperature_tuning: bool = True
    floor_scale: int = 8192
    attn_scale: float = 0.1
    rms_norm_eps: float = 1e-5
    max_position_embeddings: int = 262144
    tie_word_embeddings: bool = False
    router_aux_loss_coef: float = 0.001
    initializer_range: float = 0.02
    bos_token_id: int | None = None
    eos_token_id: tuple[int, ...] = ()
    pad_token_id: int | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)  # HF fields we carry but never use

    def __post_init__(self) -> None:
        positive = (
            "vocab_size", "hidden_size", "intermediate_size", "intermediate_size_mlp", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "num_local_experts", "num_experts_per_tok",
            "interleave_moe_layer_step", "floor_scale", "max_position_embeddings",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}={value!r}: must be an integer >= 1")
        if not isinstance(self.extra, dict):  # read as a mapping by to_hf: save_pretrained failed on an AttributeError
            raise ConfigError(f"extra={self.extra!r}: must be a dict (transformers fields carried unread)")
        if self.rope_scaling is not None and not isinstance(self.rope_scaling, RopeScaling):
            raise ConfigError(f"rope_scaling={self.rope_scaling!r}: must be a RopeScaling mapping or None")
        for name in (*FIELD_LIMITS, *_TOKEN_LISTS, *_BOOLEANS):
            problem = field_problem(name, getattr(self, name))
            if problem:
                raise ConfigError(f"{name}={getattr(self, name)!r}: {problem}")
        if self.no_rope_layer_interval < 1:
            raise ConfigError(f"no_rope_layer_interval={self.no_rope_layer_interval}: NoPE interval must be >= 1")
        if self.head_dim is None and self.hidden_size % self.num_attention_heads != 0:
            raise ConfigError(
                f"hidden_size={self.hidden_size} is not divisible by num_attention_heads={self.num_attention_heads}"
                " (set head_dim explicitly or choose divisible sizes)"
            )
        if self.head_dim is None:  # resolved once, so equal configs compare equal
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        if self.head_dim < 2 or self.head_dim % 2:
            raise ConfigError(f"head_dim={self.head_dim}: must be an even integer >= 2 (RoPE rotates pairs)")
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ConfigError(
                f"num_key_value_heads={self.num_key_value_heads} does not divide"
                f" num_attention_heads={self.num_attention_heads}"
            )
        if self.num_experts_per_tok > self.num_local_experts:
            raise ConfigError(
                f"num_experts_per_tok={self.num_experts_per_tok} > num_local_experts={self.num_local_experts}:"
                " top-k cannot exceed the number of experts"
            )
        if self.attention_chunk_size is not None and self.attention_chunk_size < 1:
            raise ConfigError(f"attention_chunk_size={self.attention_chunk_size}: chunk size must be >= 1 (or None)")
        if self.rms_norm_eps <= 0:
            raise ConfigError(f"rms_norm_eps={self.rms_norm_eps}: must be > 0")
        if self.rope_theta <= 0:
            raise ConfigError(f"rope_theta={self.rope_theta}: must be > 0")
        if self.attn_scale < 0:
            raise ConfigError(f"attn_scale={self.attn_scale}: must be >= 0")
        for name in ("moe_layers", "nope_layers"):
            layers = getattr(self, name)
            if layers is None:
                continue
            bad = [i for i in layers if not 0 <= i < self.num_hidden_layers]
            if bad:
                raise ConfigError(
                    f"{name}={list(layers)}: indices {bad} are outside 0..{self.num_hidden_layers - 1}"
                )
            if len(set(layers)) != len(layers):
                raise ConfigError(f"{name}={list(layers)}: indices repeat")
        # One form per meaning: a list is kept sorted, and None where its interval gives the same layers. A
        # config.json always lists both (transformers writes them out), so without this an explicit list
        # read back as None, or sorted, and the config compared unequal to the one that was saved.
        for name, derive in (("moe_layers", derived_moe_layers), ("nope_layers", derived_nope_layers)):
            layers = getattr(self, name)
            if layers is not None:
                layers = tuple(sorted(layers))
                object.__setattr__(self, name, None if layers == derive(self) else layers)

    @property
    def resolved_head_dim(self) -> int:
        return self.head_dim

    def replace(self, **changes) -> ModelConfig:
        """A copy with some fields changed, validated again. A head_dim that was derived from
        hidden_size / heads is derived again when either changes."""
        _check_field_names(changes, also=("extra",))  # else a TypeError from dataclasses naming __init__
        derived = self.head_dim == self.hidden_size // self.num_attention_heads
        if derived and "head_dim" not in changes and {"hidden_size", "num_attention_heads"} & set(changes):
            changes["head_dim"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.pop("extra")
        for name in ("moe_layers", "nope_layers", "eos_token_id"):
            if data[name] is not None:
                data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        if not isinstance(data, dict):  # a list's set() is empty: [] would build the default config silently
            raise ConfigError(f"ModelConfig.from_dict: expected a dict of fields, got {type(data).__name__}")
        _check_field_names(data)
        data = dict(data)
        if isinstance(data.get("rope_scaling"), dict):
            unknown = sorted(set(data["rope_scaling"]) - {f.name for f in dataclasses.fields(RopeScaling)})
            if unknown:  # else a TypeError from RopeScaling's __init__
                raise ConfigError(f"rope_scaling: unknown fields {unknown}")
            data["rope_scaling"] = RopeScaling(**data["rope_scaling"])
        for name in ("moe_layers", "nope_layers", "eos_token_id"):
            if isinstance(data.get(name), list):  # anything else is left for __post_init__ to refuse by name
                data[name] = tuple(data[name])
        return cls(**data)


def derived_nope_layers(config: ModelConfig) -> tuple[int, ...]:
    """The NoPE layers `no_rope_layer_interval` gives: every interval-th layer, counting from 1."""
    return tuple(i for i in range(config.num_hidden_layers) if (i + 1) % config.no_rope_layer_interval == 0)


def derived_moe_layers(config: ModelConfig) -> tuple[int, ...]:
    """The MoE layers `interleave_moe_layer_step` gives: every step-th layer, counting from 1."""
    step = config.interleave_moe_layer_step
    return tuple(range(step - 1, config.num_hidden_layers, step))


_FIELD_KINDS = {f.name: f.type for f in dataclasses.fields(ModelConfig)}


def _check_field_names(names, also: tuple[str, ...] = ()) -> None:
    known = {f.name for f in dataclasses.fields(ModelConfig)} - {"extra"} | set(also)
    unknown = sorted(set(names) - known)
    if unknown:
        raise ConfigError(f"unknown ModelConfig fields: {unknown}")


def require_model_config(config: object, name: str = "config") -> ModelConfig:
    """A public function's ModelConfig argument as given: a dict, a preset's name or None is one UserError
    naming the argument, not an AttributeError from the first field read deep inside."""
    if not isinstance(config, ModelConfig):
        hint = f"; for a preset use preset({config!r})" if isinstance(config, str) else ""
        raise UserError(f"{name}: expected a ModelConfig, got {type(config).__name__}{hint}")
    return config
