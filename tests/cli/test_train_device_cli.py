"""`--device` on `sonar train` and `sonar bench train`: an absent device is one error line and exit 2,
before any work is done (nothing is written)."""

import pytest
import torch
from typer.testing import CliRunner

from sonar.cli import app


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("command", [["train", "--preset", "debug"], ["bench", "train", "--presets", "debug"]])
def test_an_absent_gpu_is_one_error_line(tmp_path, command):
    result = CliRunner().invoke(app, [*command, "--device", "cuda", *(["--out", str(tmp_path / "run")]
                                                                    if command[0] == "train" else [])])
    assert result.exit_code == 2
    assert "--device 'cuda': no CUDA device is available" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_a_misspelt_device_is_one_error_line():
    result = CliRunner().invoke(app, ["bench", "train", "--presets", "debug", "--device", "gpu0"])
    assert result.exit_code == 2 and "--device 'gpu0': must be cpu, cuda or cuda:N" in result.output
