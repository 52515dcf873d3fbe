import pytest
import torch

from sonar.model.moe_dispatch import MOE_DISPATCHES


def _broken(x_TD, experts_TA, scores_TA, gate_up, down):
    raise RuntimeError("this dispatch always fails")


def _nan(x_TD, experts_TA, scores_TA, gate_up, down):
    return torch.full_like(x_TD, float("nan"))


@pytest.fixture
def failing_dispatches():
    """Two dispatches that fail in known ways, registered for the test only."""
    MOE_DISPATCHES.update(broken=_broken, nan=_nan)
    yield ("broken", "nan")
    for name in ("broken", "nan"):
        MOE_DISPATCHES.pop(name)
