import pytest
import torch

from sonar.posttrain.model_source import load_start


@pytest.fixture
def small_model():
    """The debug preset sized to the chat vocabulary: a few milliseconds a step."""
    torch.manual_seed(0)
    return load_start(None, preset_name="debug", seed=0)


@pytest.fixture(autouse=True)
def one_thread():
    """Debug-sized matmuls gain nothing from a second thread and lose much when the cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
