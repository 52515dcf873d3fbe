"""The planner's weight bytes equal the bytes our models actually store in that format."""

import pytest
import torch

from sonar.model import build_model, preset
from sonar.plan.formats import get_format, weight_bytes_by_component
from sonar.plan.weights import weight_inventory
from sonar.systems.apply import transform
from sonar.systems.config import SystemConfig

# The plan's int8 covers the decoder linears (int8 with a bf16 scale per row) and keeps the head bf16.
PLAN_INT8 = SystemConfig(**{f"weights_{s}": "int8" for s in ("routed", "shared", "attention", "dense")},
                         weights_head="bf16", moe_dispatch="packed_grouped")


def _plan_bytes(config, fmt: str) -> int:
    return sum(weight_bytes_by_component(weight_inventory(config), get_format(fmt), config).values())


def _stored_bytes(model) -> int:
    # The state dict holds weights and persistent buffers (packed formats), not the RoPE table.
    return sum(t.nbytes for t in model.state_dict().values())


@pytest.mark.parametrize("fmt", ["bf16", "int8"])
def test_stored_weight_bytes_equal_the_plan(fmt):
    config = preset("debug")  # dense and MoE layers both
    model = build_model(config, dtype=torch.bfloat16).eval()
    if fmt == "int8":
        model = transform(model, PLAN_INT8)
    assert _stored_bytes(model) == _plan_bytes(config, fmt)
