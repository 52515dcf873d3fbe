"""Pre-training against a teacher (TrainConfig.teacher): the KL term is in the loss, stays finite, and a
resumed run is still bit for bit the unbroken one."""

import math

import pytest
import torch

from sonar.checkpoint import save_pretrained
from sonar.errors import UserError
from sonar.interfaces import Candidate
from sonar.model import build_model, preset
from sonar.posttrain import distill
from sonar.train.config import TrainConfig
from sonar.train.state import STATE_FILE, load_checkpoint


def _candidate(trainer, workdir):
    return Candidate(id="c", model=trainer.fit_vocab(preset("debug")), workdir=workdir, seed=0)


@pytest.fixture
def teacher_dir(tmp_path, make_trainer, train_config):
    config = make_trainer(train_config).fit_vocab(preset("debug"))
    path = tmp_path / "teacher"
    save_pretrained(build_model(config, seed=7), path)
    return path


def test_the_kl_term_is_in_the_loss_and_finite(tmp_path, monkeypatch, make_trainer, train_config, teacher_dir):
    kls = []

    def recording_kl(*args, **kwargs):
        kl = real_kl(*args, **kwargs)
        kls.append(float(kl.detach()))
        return kl

    real_kl = distill.teacher_kl
    monkeypatch.setattr(distill, "teacher_kl", recording_kl)
    taught = make_trainer(train_config.replace(teacher=str(teacher_dir), distill_weight=0.5))
    curve = taught.run(_candidate(taught, tmp_path / "taught"), 4)
    assert len(kls) == 4 and all(math.isfinite(k) and k > 0 for k in kls)
    assert all(math.isfinite(p.train_loss) and math.isfinite(p.val_loss) for p in curve)
    plain = make_trainer(train_config)
    plain.run(_candidate(plain, tmp_path / "plain"), 4)
    a, b = (load_checkpoint(tmp_path / name / STATE_FILE)["model"] for name in ("taught", "plain"))
    assert not all(torch.equal(a[k], b[k]) for k in a)  # the term changed the updates
    assert taught.teacher() is taught.teacher() and not taught.teacher().training  # loaded once, eval mode


def test_resume_is_exact_with_a_teacher(tmp_path, make_trainer, train_config, teacher_dir):
    config = train_config.replace(teacher=str(teacher_dir))
    trainer = make_trainer(config)
    trainer.run(_candidate(trainer, tmp_path / "whole"), 6)
    trainer.run(_candidate(trainer, tmp_path / "parts"), 2)
    make_trainer(config).run(_candidate(trainer, tmp_path / "parts"), 6)  # a fresh trainer, as after a restart
    a, b = load_checkpoint(tmp_path / "whole" / STATE_FILE), load_checkpoint(tmp_path / "parts" / STATE_FILE)
    assert a["state"].losses == b["state"].losses and len(a["state"].losses) == 6
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_checkpoint_does_not_resume_under_another_teacher_setting(tmp_path, make_trainer, train_config, teacher_dir):
    trainer = make_trainer(train_config.replace(teacher=str(teacher_dir)))
    trainer.run(_candidate(trainer, tmp_path), 2)
    other = make_trainer(train_config.replace(teacher=str(teacher_dir), distill_weight=0.9))
    with pytest.raises(UserError, match="distill_weight"):
        other.run(_candidate(other, tmp_path), 4)


def test_a_teacher_with_another_vocabulary_is_a_user_error(tmp_path, make_trainer, train_config):
    path = tmp_path / "teacher"
    save_pretrained(build_model(preset("debug").replace(vocab_size=261), seed=0), path)
    trainer = make_trainer(train_config.replace(teacher=str(path)))
    with pytest.raises(UserError, match=r"vocab_size=261 but candidate 'c' has 300"):
        trainer.run(_candidate(trainer, tmp_path / "c"), 1)


def test_a_missing_teacher_is_a_user_error(tmp_path, make_trainer, train_config):
    trainer = make_trainer(train_config.replace(teacher=str(tmp_path / "none")))
    with pytest.raises(UserError, match="no such checkpoint directory"):
        trainer.run(_candidate(trainer, tmp_path / "c"), 1)


@pytest.mark.parametrize("kwargs", [dict(teacher=""), dict(distill_temperature=0.0), dict(distill_weight=0.0),
                                    dict(distill_weight=1.5)])
def test_bad_teacher_settings_are_user_errors(kwargs):
    with pytest.raises(UserError, match=next(iter(kwargs))):
        TrainConfig(**kwargs)


def test_a_run_without_a_teacher_records_no_teacher_settings():
    assert "teacher" not in TrainConfig().trajectory_dict()  # older checkpoints still resume
    assert TrainConfig(teacher="t").trajectory_dict()["distill_weight"] == 0.5
