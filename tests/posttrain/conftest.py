import pytest
import torch

from sonar.posttrain.model_source import load_start


@pytest.fixture
def small_model():
    """The debug preset sized to the chat vocabulary: a few milliseconds a step."""
    torch.manual_seed(0)
    return load_start(None, preset_name="debug", seed=0)
