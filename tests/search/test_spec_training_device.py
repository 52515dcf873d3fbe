"""`training.device` in a spec: spelt as TrainConfig takes it, else a SpecError naming the key; when absent,
the real backend trains on a GPU only where a target is one and this machine has one."""

from pathlib import Path

import pytest
import torch

from sonar.search.backends import train_config
from sonar.search.spec import SpecError, load_spec, parse_spec

GPU_EXAMPLE = Path(__file__).parents[2] / "examples" / "search-gpu.yaml"


def _raw(**changes) -> dict:
    import yaml

    return {**yaml.safe_load(GPU_EXAMPLE.read_text()), **changes}


def test_a_misspelt_training_device_names_the_key():
    with pytest.raises(SpecError, match=r"training\.device: device='gpu': must be cpu, cuda or cuda:N"):
        parse_spec(_raw(training={"device": "gpu"}))


def test_the_training_device_is_the_specs_when_given():
    assert train_config(load_spec(GPU_EXAMPLE)).device == "cuda"
    assert train_config(parse_spec(_raw(training={"device": "cpu"}))).device == "cpu"


@pytest.mark.parametrize(("gpu_present", "device"), [(True, "cuda"), (False, "cpu")])
def test_without_one_a_gpu_target_trains_on_the_gpu_only_where_one_is_present(monkeypatch, gpu_present, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu_present)
    assert train_config(parse_spec(_raw(training={}))).device == device
