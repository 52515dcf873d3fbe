import pytest
import torch

from sonar.errors import UserError
from sonar.search.spec import Target
from sonar.search.spec_training import default_training_device
from sonar.train.bench import bench_preset
from sonar.train.config import TrainConfig
from sonar.train.device import compute_dtype, resolve_device


@pytest.mark.parametrize("name", ["cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_names_are_accepted(name):
    assert TrainConfig(device=name).device == name


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "", 0, None])
def test_a_misspelt_device_is_a_user_error(name):
    with pytest.raises(UserError, match=r"device=.*cpu, cuda or cuda:N"):
        TrainConfig(device=name)


def test_a_bad_precision_is_a_user_error():
    with pytest.raises(UserError, match=r"precision='fp16'"):
        TrainConfig(precision="fp16")


def test_an_absent_gpu_is_one_error_never_a_cpu_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match=r"device='cuda': no CUDA device is available"):
        resolve_device("cuda")


def test_a_device_index_past_the_machines_gpus_is_one_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UserError, match=r"device='cuda:7': this machine has 1 CUDA device\(s\), cuda:0 to cuda:0"):
        resolve_device("cuda:7")


def test_precision_follows_the_device_unless_given():
    assert compute_dtype(None, torch.device("cpu")) == torch.float32
    assert compute_dtype(None, torch.device("cuda")) == torch.bfloat16
    assert compute_dtype("fp32", torch.device("cuda")) == torch.float32
    assert compute_dtype("bf16", torch.device("cpu")) == torch.bfloat16


def test_the_device_is_no_part_of_the_trajectory_a_resume_must_share():
    on_cpu, on_gpu = TrainConfig(), TrainConfig(device="cuda")
    assert on_cpu.trajectory_dict() == on_gpu.trajectory_dict()
    assert TrainConfig(precision="bf16").trajectory_dict() != on_cpu.trajectory_dict()


def test_the_search_trains_on_a_gpu_only_when_a_target_is_one_and_one_is_present():
    cpu, cuda = Target(name="laptop", device="cpu"), Target(name="server", device="cuda")
    assert default_training_device([cpu, cuda], gpu_present=True) == "cuda"
    assert default_training_device([cpu, cuda], gpu_present=False) == "cpu"
    assert default_training_device([cpu], gpu_present=True) == "cpu"


def test_the_benchmark_reports_mfu_on_the_cpu():
    config = TrainConfig(batch_size=2, seq_len=16)
    result = bench_preset("debug", peak_flops=1e11, steps=1, warmup=1, config=config)
    assert result["device"] == "cpu" and result["compute_dtype"] == "torch.float32"
    assert result["mfu"] == pytest.approx(result["achieved_flops_per_s"] / 1e11) and result["mfu"] > 0


def test_restoring_keeps_this_devices_adamw_kernel():
    """A checkpoint saved by the fused (CUDA) kernel, restored on the CPU, runs the multi-tensor one."""
    from sonar.model import build_model, preset
    from sonar.train.optimizer import build_optimizer, restore_optimizer

    model = build_model(preset("debug"), seed=0)
    optimizer = build_optimizer(model, TrainConfig())
    model(torch.zeros(1, 4, dtype=torch.long)).logits.sum().backward()
    optimizer.step()
    saved = optimizer.state_dict()
    for group in saved["param_groups"]:
        group.update(fused=True, foreach=None)  # as the GPU saved it
    restored = build_optimizer(model, TrainConfig())
    restore_optimizer(restored, saved)
    assert all(g["fused"] is None and g["foreach"] is True for g in restored.param_groups)
    assert all(s["step"].device.type == "cpu" and float(s["step"]) == 1.0 for s in restored.state.values())
