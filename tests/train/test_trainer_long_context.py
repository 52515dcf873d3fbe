"""The trainer measures long-context loss only where a run asks (search/long_context.py), through longctx."""

import math

import numpy as np

from sonar.interfaces import Candidate
from sonar.longctx.ratio import long_context_loss
from sonar.model import preset


def _candidate(trainer, workdir):
    return Candidate(id="c", model=trainer.fit_vocab(preset("debug")), workdir=workdir, seed=0)


def test_only_the_asked_point_carries_the_long_loss_and_it_is_longctx_s(tmp_path, make_trainer, train_config):
    trainer = make_trainer(train_config)
    candidate = _candidate(trainer, tmp_path)
    plain = trainer.run(candidate, 4)
    assert plain[-1].long_loss is None and plain[-1].long_ratio is None
    curve = trainer.run(candidate, 8, long_factor=2)
    assert [p.long_loss is not None for p in curve] == [False, True]
    last = curve[-1]
    model = trainer.load_model(candidate)
    loss, ratio = long_context_loss(model, [np.asarray(trainer.data.val_ids)], train_len=train_config.seq_len,
                                    factor=2, windows=train_config.eval_batches, eot_id=trainer.data.tokenizer.eot_id)
    assert math.isclose(last.long_loss, loss, rel_tol=1e-5) and math.isclose(last.long_ratio, ratio, rel_tol=1e-5)
    # a rerun of the same job (a resumed search) finds the measurement in the checkpoint's curve
    assert make_trainer(train_config).run(candidate, 8, long_factor=2) == curve
