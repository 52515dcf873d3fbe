import json

import pytest
import torch

from sonar.errors import UserError
from sonar.interfaces import Candidate, CurvePoint, Trainer
from sonar.model import preset
from sonar.train.state import STATE_FILE, load_checkpoint
from sonar.train.trainer import RUN_RECORD


def _candidate(trainer, workdir, name="c", seed=0):
    return Candidate(id=name, model=trainer.fit_vocab(preset("debug")), workdir=workdir, seed=seed)


def test_corpus_trainer_satisfies_the_trainer_contract(make_trainer, train_config):
    assert isinstance(make_trainer(train_config), Trainer)


def test_resume_is_bit_identical_to_one_run(tmp_path, make_trainer, train_config):
    trainer = make_trainer(train_config)
    whole = _candidate(trainer, tmp_path / "whole")
    parts = _candidate(trainer, tmp_path / "parts")
    curve_whole = trainer.run(whole, 10)
    trainer.run(parts, 3)
    curve_parts = make_trainer(train_config).run(parts, 10)  # a fresh trainer, as after a restart
    a, b = load_checkpoint(tmp_path / "whole" / STATE_FILE), load_checkpoint(tmp_path / "parts" / STATE_FILE)
    assert a["state"].losses == b["state"].losses and len(a["state"].losses) == 10
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["state"].expert_counts == b["state"].expert_counts
    by_step = {p.step: (p.train_loss, p.val_loss) for p in curve_parts}
    assert [(p.step, p.train_loss, p.val_loss) for p in curve_whole] == [(s, *by_step[s]) for s in (4, 8, 10)]
    assert 3 in by_step  # the interrupted run left its own point


def test_curve_points_and_cost(tmp_path, make_trainer, train_config):
    trainer = make_trainer(train_config)
    curve = trainer.run(_candidate(trainer, tmp_path), 9)
    assert all(isinstance(p, CurvePoint) for p in curve)
    assert [p.step for p in curve] == [4, 8, 9]
    assert [p.tokens for p in curve] == [s * 4 * 32 for s in (4, 8, 9)]
    assert all(0 < p.seconds for p in curve) and curve[0].seconds <= curve[-1].seconds
    assert curve[-1].val_loss < curve[0].val_loss  # it learns
    assert trainer.run(_candidate(trainer, tmp_path), 5) == curve[:1]  # asking for less trains nothing


def test_run_record_holds_cost_flops_split_and_expert_load(tmp_path, make_trainer, train_config):
    trainer = make_trainer(train_config)
    trainer.run(_candidate(trainer, tmp_path), 4)
    record = json.loads((tmp_path / RUN_RECORD).read_text())
    assert record["cost"]["tokens"] == 4 * 4 * 32 and record["cost"]["seconds"] > 0
    assert record["flops_per_token"] > 0 and 0 < record["mfu"]
    assert record["data"]["split"]["val_documents"] >= 1
    load = record["expert_load"]
    assert len(load) == 2  # debug has MoE on every other of 4 layers
    assert all(layer["slots"] == 4 * 4 * 32 and abs(sum(layer["share"]) - 1) < 1e-3 for layer in load)


def test_a_cached_peak_the_run_beats_is_measured_again(tmp_path, tiny_data, train_config):
    from sonar.train import CorpusTrainer
    from sonar.train.flops import _machine_key

    cache = tmp_path / "cache"
    cache.mkdir()
    key = _machine_key(torch.get_num_threads())
    (cache / "matmul_peak.json").write_text(json.dumps({key: 1.0}))  # a peak no run can stay under
    trainer = CorpusTrainer(train_config, data=tiny_data, cache_dir=cache)
    trainer.run(_candidate(trainer, tmp_path / "run"), 2)
    record = json.loads((tmp_path / "run" / RUN_RECORD).read_text())
    assert record["matmul_peak_flops_per_s"] > 1e6
    assert json.loads((cache / "matmul_peak.json").read_text())[key] == record["matmul_peak_flops_per_s"]


def test_different_seeds_train_differently(tmp_path, make_trainer, train_config):
    trainer = make_trainer(train_config)
    a = trainer.run(_candidate(trainer, tmp_path / "a", seed=0), 2)
    b = trainer.run(_candidate(trainer, tmp_path / "b", seed=1), 2)
    assert a[-1].val_loss != b[-1].val_loss


def test_wrong_vocab_and_changed_settings_are_user_errors(tmp_path, make_trainer, train_config):
    trainer = make_trainer(train_config)
    with pytest.raises(UserError, match="fit_vocab"):
        trainer.run(Candidate(id="x", model=preset("debug"), workdir=tmp_path), 1)
    trainer.run(_candidate(trainer, tmp_path), 1)
    with pytest.raises(UserError, match=r"changed: \['lr'\]"):
        make_trainer(train_config.replace(lr=1e-2)).run(_candidate(trainer, tmp_path), 2)
    make_trainer(train_config.replace(eval_every=7)).run(_candidate(trainer, tmp_path), 2)  # harmless change


def test_load_model_returns_the_trained_weights(tmp_path, make_trainer, train_config):
    trainer = make_trainer(train_config)
    candidate = _candidate(trainer, tmp_path)
    trainer.run(candidate, 2)
    saved = load_checkpoint(tmp_path / STATE_FILE)["model"]
    model = trainer.load_model(candidate)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
