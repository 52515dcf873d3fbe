"""The weight inventory: every tensor of a checkpoint as (component, layer, count, rows x cols).

Byte counts need shapes, not just parameter counts, because quantization scales are stored per
output row or per group of input columns. A matrix's rows are its output features and its columns
the input features it reduces over (the axis quantization groups run along). The routed experts'
fused `gate_up_proj` [E, D, 2F] is E gate and E up matrices of F x D each; `down_proj` [E, F, D] is
E matrices of D x F.

The inventory is checked against `sonar.model.params.count_parameters` (and the vision count), so
the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from sonar.model.config import ModelConfig
from sonar.model.layout import layer_plans
from sonar.model.params import count_parameters
from sonar.model.vision_config import VisionConfig, count_vision_parameters

VISION = "vision"  # the component name of the vision tower (encoder, adapter, projector)


@dataclass(kw_only=True, frozen=True, slots=True)
class WeightGroup:
    component: str  # a key of ParamCount.by_component(), or VISION
    layer: int | None  # decoder layer index; None for embedding, head, final norm, vision
    count: int  # identical matrices in the group (experts)
    rows: int
    cols: int
    is_linear: bool  # a matmul weight (quantizable); tables, norms and the vision tower are not

    @property
    def params(self) -> int:
        return self.count * self.rows * self.cols


def weight_inventory(config: ModelConfig, vision: VisionConfig | None = None) -> tuple[WeightGroup, ...]:
    D, V = config.hidden_size, config.vocab_size
    hd, H, K = config.resolved_head_dim, config.num_attention_heads, config.num_key_value_heads
    E, F, F_mlp = config.num_local_experts, config.intermediate_size, config.intermediate_size_mlp

    def linear(component: str, layer: int | None, rows: int, cols: int, count: int = 1) -> WeightGroup:
        return WeightGroup(component=component, layer=layer, count=count, rows=rows, cols=cols, is_linear=True)

    def vector(component: str, layer: int | None, size: int, count: int = 1) -> WeightGroup:
        return WeightGroup(component=component, layer=layer, count=count, rows=1, cols=size, is_linear=False)

    groups = [WeightGroup(component="embedding", layer=None, count=1, rows=V, cols=D, is_linear=False)]
    for plan in layer_plans(config):
        i = plan.index
        groups += [
            linear("attention", i, H * hd, D),  # q_proj
            linear("attention", i, K * hd, D, count=2),  # k_proj, v_proj
            linear("attention", i, D, H * hd),  # o_proj
            vector("norms", i, D, count=2),  # attention and FFN norms
        ]
        if plan.is_moe:
            groups += [
                linear("router", i, E, D),
                linear("routed_experts", i, F, D, count=2 * E),  # gate, up
                linear("routed_experts", i, D, F, count=E),  # down
                linear("shared_experts", i, F, D, count=2),
                linear("shared_experts", i, D, F),
            ]
        else:
            groups += [linear("dense_ffn", i, F_mlp, D, count=2), linear("dense_ffn", i, D, F_mlp)]
    groups.append(vector("norms", None, D))
    if not config.tie_word_embeddings:
        groups.append(linear("lm_head", None, V, D))
    if vision is not None:
        groups.append(vector(VISION, None, count_vision_parameters(vision, D)))
    _check_against_param_count(groups, config)
    return tuple(groups)


def params_by_component(groups: tuple[WeightGroup, ...]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for group in groups:
        totals[group.component] = totals.get(group.component, 0) + group.params
    return totals


def _check_against_param_count(groups: list[WeightGroup], config: ModelConfig) -> None:
    expected = {k: v for k, v in count_parameters(config).by_component().items() if v}
    counted = {k: v for k, v in params_by_component(tuple(groups)).items() if k != VISION}
    if counted != expected:
        raise AssertionError(f"weight inventory {counted} disagrees with count_parameters {expected}")
