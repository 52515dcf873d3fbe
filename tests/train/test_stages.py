"""Training stages: a run continued at a longer sequence length resumes exactly within the stage."""

import dataclasses
import json

import pytest
import torch

from sonar.errors import UserError
from sonar.interfaces import Candidate
from sonar.model import preset
from sonar.train.schedule import learning_rate
from sonar.train.stages import Stage, next_stage, phase_at, tokens_before
from sonar.train.state import STATE_FILE, load_checkpoint
from sonar.train.trainer import RUN_RECORD


def _candidate(trainer, workdir):
    return Candidate(id="c", model=trainer.fit_vocab(preset("debug")), workdir=workdir, seed=0)


def _staged(config):
    return config.replace(stages=(next_stage(config, steps_done=6, until_step=12, seq_len=64),))


def test_a_new_stage_keeps_tokens_per_step_and_counts_its_schedule_from_its_start(train_config):
    staged = _staged(train_config)
    stage = staged.stages[0]
    assert (stage.start_step, stage.seq_len, stage.batch_size, stage.schedule_steps) == (6, 64, 2, 6)
    assert phase_at(staged, 5).config is staged
    inside = phase_at(staged, 6)
    assert (inside.index, inside.config.seq_len, inside.config.data_seed) == (1, 64, staged.data_seed + 1)
    assert learning_rate(6 - inside.start_step, inside.config) == pytest.approx(staged.lr / stage.warmup_steps)
    assert tokens_before(staged, 8) == 6 * 128 + 2 * 128
    # A saved config's list of mappings reads back as the same stages.
    assert staged.replace(stages=[dataclasses.asdict(s) for s in staged.stages]).stages == staged.stages


def test_stages_must_start_in_order_after_step_zero(train_config):
    stage = Stage(start_step=4, seq_len=64, batch_size=2, warmup_steps=1, schedule_steps=4)
    with pytest.raises(UserError, match="each must start after the one before"):
        train_config.replace(stages=(stage, stage))
    with pytest.raises(UserError, match="a new stage needs --steps beyond the 6"):
        next_stage(train_config, steps_done=6, until_step=6, seq_len=64)


def test_a_stage_resumes_exactly_and_the_record_marks_its_start(tmp_path, make_trainer, train_config):
    staged = _staged(train_config)
    whole, parts = (_candidate(make_trainer(train_config), tmp_path / name) for name in ("whole", "parts"))
    for candidate in (whole, parts):
        make_trainer(train_config).run(candidate, 6)  # the first stage, trained before the next was asked for
    make_trainer(staged).run(whole, 12)
    make_trainer(staged).run(parts, 9)
    make_trainer(staged).run(parts, 12)  # a fresh trainer, as after a restart inside the stage
    a, b = load_checkpoint(tmp_path / "whole" / STATE_FILE), load_checkpoint(tmp_path / "parts" / STATE_FILE)
    assert a["state"].losses == b["state"].losses and len(a["state"].losses) == 12
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["state"].tokens == 12 * 128
    record = json.loads((tmp_path / "whole" / RUN_RECORD).read_text())
    assert record["stage_boundaries"] == [{"step": 6, "tokens": 768, "seq_len": 64, "batch_size": 2}]


def test_a_checkpoint_inside_a_stage_refuses_the_run_without_it(tmp_path, make_trainer, train_config):
    candidate = _candidate(make_trainer(train_config), tmp_path / "run")
    make_trainer(train_config).run(candidate, 6)
    make_trainer(_staged(train_config)).run(candidate, 8)
    with pytest.raises(UserError, match=r"different training settings \(changed: \['stages'\]\)"):
        make_trainer(train_config).run(candidate, 10)
