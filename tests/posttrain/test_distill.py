import pytest
import torch

from sonar.errors import UserError
from sonar.model import build_model, preset
from sonar.posttrain.batching import IGNORE
from sonar.posttrain.distill import DistillConfig, distill_loss, run_distill
from sonar.posttrain.model_source import load_start


def test_kl_part_is_zero_when_student_equals_teacher():
    logits = torch.randn(2, 3, 7)
    targets = torch.tensor([[IGNORE, 1, 2], [IGNORE, IGNORE, 4]])
    assert float(distill_loss(logits, logits, targets, temperature=2.0, ce_weight=0.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(logits, logits + torch.randn(2, 3, 7), targets, temperature=2.0, ce_weight=0.0)) > 0


def test_student_moves_towards_the_teacher():
    teacher = load_start(None, preset_name="debug", seed=1)
    student = load_start(None, preset_name="debug", seed=2)
    record = run_distill(student, teacher, ["2+2="] * 4, ["4"] * 4,
                         DistillConfig(steps=8, batch_size=4, warmup=1, ce_weight=0.0))
    assert record["losses"][-1] < record["losses"][0]


def test_vocab_mismatch_and_bad_settings_are_user_errors():
    other = build_model(preset("debug").replace(vocab_size=300))
    with pytest.raises(UserError, match="vocab_size=300"):
        run_distill(other, load_start(None, preset_name="debug"), ["a"], ["b"], DistillConfig(steps=1))
    with pytest.raises(UserError, match="ce_weight"):
        DistillConfig(ce_weight=2)
