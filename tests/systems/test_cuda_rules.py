"""CUDA-only validity rules, checked here by pretending a GPU is present (the rules read no device)."""

import pytest
import torch

from sonar.model import preset
from sonar.systems import space
from sonar.systems.config import SystemConfig, SystemConfigError, uniform_weights

DEBUG = preset("debug")
INT8 = SystemConfig(**uniform_weights("int8"), moe_dispatch="packed_grouped", target="cuda")


@pytest.fixture
def gpu_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_int8_refused_where_torch_has_no_cuda_int8_kernel(gpu_present, monkeypatch):
    monkeypatch.setattr(space, "has_cuda_kernel", lambda op: op != "_weight_int8pack_mm")
    with pytest.raises(SystemConfigError, match="no CUDA kernel for torch._weight_int8pack_mm; use 'int8_dq'"):
        space.check(INT8, DEBUG)
    space.check(INT8.replace(**uniform_weights("int8_dq")), DEBUG)  # the in-graph twin needs no such kernel


def test_int8_accepted_where_torch_has_the_kernel(gpu_present, monkeypatch):
    monkeypatch.setattr(space, "has_cuda_kernel", lambda op: True)
    space.check(INT8, DEBUG)


def test_int4_and_threads_refused_on_cuda(gpu_present):
    with pytest.raises(SystemConfigError, match="only the CPU int4 packing"):
        space.check(SystemConfig(weights_head="int4", int4_group_size=32, target="cuda"), DEBUG)
    with pytest.raises(SystemConfigError, match="threads is a CPU knob"):
        space.check(SystemConfig(threads=1, target="cuda"), DEBUG)


def test_kernel_lookup_matches_the_build():
    # A CPU-only build registers no CUDA kernels at all; a CUDA build registers mm.
    assert space.has_cuda_kernel("mm") == (torch.version.cuda is not None)
