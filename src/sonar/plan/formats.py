"""Weight formats: which tensors a format quantizes, and what each storage costs in bytes, scales included.

A `Storage` is a number format plus its scales. A matrix of R rows (output features) and C
columns (input features) costs

    R * ceil(C * bits / 8)                        the packed weights
  + R * scale_bytes                                per-row scales, or
  + R * ceil(C / group_size) * scale_bytes         per-group scales (groups of input columns).

So bf16 is 16 bits a weight; fp8 per row (e4m3, fp32 scale) 8 + 32/C bits; int8 per row (bf16
scale) 8 + 16/C; int4 in groups of 128 (symmetric, one bf16 scale a group) 4 + 16/128 = 4.125.

A `WeightFormat` maps each weight group to a storage. What every format leaves in bf16: the
embedding table (a lookup, not a matmul), the norms, the MoE router (tiny and routing-sensitive),
the LM head (commonly left unquantized), and the vision tower.

- `bf16`: everything bf16.
- `fp8_mixed` (Meta's): routed experts only, fp8 per row, skipping the first and last decoder layers.
- `int4_mixed` (Meta's): routed and shared experts of MoE layers, int4 in groups of 128.
- `fp8`, `int8`, `int4`: every decoder linear (attention, routed and shared experts, dense FFN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sonar.errors import UserError
from sonar.model.config import ModelConfig
from sonar.plan.weights import WeightGroup


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(kw_only=True, frozen=True)
class Storage:
    name: str
    bits: int
    scale_bytes: int = 0
    group_size: int | None = None  # None with scale_bytes > 0: one scale per row

    def matrix_bytes(self, rows: int, cols: int) -> int:
        packed = rows * ceil_div(cols * self.bits, 8)
        if not self.scale_bytes:
            return packed
        scales_per_row = 1 if self.group_size is None else ceil_div(cols, self.group_size)
        return packed + rows * scales_per_row * self.scale_bytes

    def group_bytes(self, group: WeightGroup) -> int:
        return group.count * self.matrix_bytes(group.rows, group.cols)


BF16 = Storage(name="bf16", bits=16)
FP8_PER_ROW = Storage(name="fp8 e4m3, fp32 scale per row", bits=8, scale_bytes=4)
INT8_PER_ROW = Storage(name="int8, bf16 scale per row", bits=8, scale_bytes=2)
INT4_GROUP128 = Storage(name="int4, bf16 scale per 128", bits=4, scale_bytes=2, group_size=128)

Rule = Callable[[WeightGroup, ModelConfig], Storage]

_DECODER_LINEARS = frozenset({"attention", "routed_experts", "shared_experts", "dense_ffn"})


@dataclass(kw_only=True, frozen=True)
class WeightFormat:
    name: str
    description: str
    rule: Rule

    def storage(self, group: WeightGroup, config: ModelConfig) -> Storage:
        return self.rule(group, config)


def _bf16(group: WeightGroup, config: ModelConfig) -> Storage:
    return BF16


def _fp8_mixed(group: WeightGroup, config: ModelConfig) -> Storage:
    edge = group.layer in (0, config.num_hidden_layers - 1)
    return FP8_PER_ROW if group.component == "routed_experts" and not edge else BF16


def _int4_mixed(group: WeightGroup, config: ModelConfig) -> Storage:
    return INT4_GROUP128 if group.component in ("routed_experts", "shared_experts") else BF16


def _all_decoder_linears(storage: Storage) -> Rule:
    def rule(group: WeightGroup, config: ModelConfig) -> Storage:
        return storage if group.is_linear and group.component in _DECODER_LINEARS else BF16

    return rule


FORMATS: dict[str, WeightFormat] = {
    f.name: f
    for f in (
        WeightFormat(name="bf16", description="everything bf16", rule=_bf16),
        WeightFormat(name="fp8_mixed", description="fp8 routed experts, first and last layers bf16",
                     rule=_fp8_mixed),
        WeightFormat(name="int4_mixed", description="int4/g128 routed + shared experts", rule=_int4_mixed),
        WeightFormat(name="fp8", description="fp8 per row, all decoder linears",
                     rule=_all_decoder_linears(FP8_PER_ROW)),
        WeightFormat(name="int8", description="int8 per row, all decoder linears",
                     rule=_all_decoder_linears(INT8_PER_ROW)),
        WeightFormat(name="int4", description="int4/g128, all decoder linears",
                     rule=_all_decoder_linears(INT4_GROUP128)),
    )
}


def get_format(name: str) -> WeightFormat:
    if not isinstance(name, str):
        raise UserError(f"weight format {name!r}: must be a name, one of {list(FORMATS)}")
    try:
        return FORMATS[name]
    except KeyError:
        raise UserError(f"unknown weight format {name!r}; choose one of {list(FORMATS)}") from None


def weight_bytes_by_component(
    groups: tuple[WeightGroup, ...], weight_format: WeightFormat, config: ModelConfig
) -> dict[str, int]:
    totals: dict[str, int] = {}
    for group in groups:
        nbytes = weight_format.storage(group, config).group_bytes(group)
        totals[group.component] = totals.get(group.component, 0) + nbytes
    return totals
