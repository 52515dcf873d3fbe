import random

import numpy as np
import pytest
import torch

from crafted_pickle import payload_runs_when_unpickled, write_crafted_checkpoint
from sonar.errors import UserError
from sonar.interfaces import Candidate
from sonar.model import preset
from sonar.train.rng import capture_rng, restore_rng
from sonar.train.state import STATE_FILE, load_checkpoint


def _candidate(trainer, workdir):
    return Candidate(id="c", model=trainer.fit_vocab(preset("debug")), workdir=workdir, seed=0)


def test_a_crafted_pickle_in_a_candidate_workdir_never_runs(tmp_path, make_trainer, train_config):
    assert payload_runs_when_unpickled(tmp_path / "probe")
    marker = tmp_path / "marker"
    workdir = tmp_path / "cand"
    write_crafted_checkpoint(workdir / STATE_FILE, marker)
    trainer = make_trainer(train_config)
    with pytest.raises(UserError, match=r"refused to load.*GLOBAL .*open.*plain data only"):
        trainer.run(_candidate(trainer, workdir), 2)  # the search's path: a candidate resumed
    assert not marker.exists()


def test_a_format_1_checkpoint_resumes_bit_exact(tmp_path, make_trainer, train_config):
    trainer = make_trainer(train_config)
    trainer.run(_candidate(trainer, tmp_path / "whole"), 6)
    old = tmp_path / "old"
    trainer.run(_candidate(trainer, old), 3)
    # The layout format 1 wrote: the same dict, with torch's RNG state alone.
    payload = torch.load(old / STATE_FILE, weights_only=True)
    payload["format"], payload["rng"] = 1, {"torch": payload["rng"]["torch"]}
    torch.save(payload, old / STATE_FILE)
    make_trainer(train_config).run(_candidate(trainer, old), 6)
    a, b = load_checkpoint(tmp_path / "whole" / STATE_FILE), load_checkpoint(old / STATE_FILE)
    assert a["format"] == b["format"] == 2 and a["state"].losses == b["state"].losses
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


@pytest.mark.parametrize("content, rule", [
    (b"", "cannot read"),
    (b"not a checkpoint at all", "cannot read"),
    ("list", "format 'list'"),
    ("format 9", r"format 9, this version reads \[1, 2\]"),
    ("no model", r"missing or malformed: \['model'"),
    ("truncated", "cannot read"),
])
def test_unreadable_checkpoints_are_user_errors_naming_the_file(tmp_path, content, rule):
    path = tmp_path / STATE_FILE
    if content == "list":
        torch.save([1, 2], path)
    elif content == "format 9":
        torch.save({"format": 9}, path)
    elif content == "no model":
        torch.save({"format": 2, "state": {}, "optimizer": {}, "rng": {}, "model_config": {}, "train_config": {},
                    "data_corpus_sha256": ""}, path)
    elif content == "truncated":
        torch.save({"format": 2, "model": {"w": torch.zeros(1000)}}, path)
        path.write_bytes(path.read_bytes()[:500])
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=rule) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_every_generator_round_trips_through_plain_data(tmp_path):
    saved = capture_rng()
    torch.save(saved, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]
