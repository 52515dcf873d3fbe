import sys
import types

import pytest
from search_support import make_spec

import sonar.train.config  # noqa: F401  imported before the fixture swaps sonar.train.trainer for a fake
from sonar.errors import UserError
from sonar.interfaces import Trainer, Tuner
from sonar.search.backends import REAL_TRAINER, REAL_TUNER, build_backend, import_by_path
from sonar.search.spec import parse_spec


class _FakeTrainer:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def run(self, candidate, until_step):
        return []


class _FakeTuner(_FakeTrainer):
    def run(self, candidate, until_trial):
        return []


@pytest.fixture
def fake_real_packages(monkeypatch):
    for path, cls in ((REAL_TRAINER, _FakeTrainer), (REAL_TUNER, _FakeTuner)):
        module_name, _, attr = path.rpartition(".")
        module = types.ModuleType(module_name)
        setattr(module, attr, cls)
        monkeypatch.setitem(sys.modules, module_name, module)


def test_real_backend_is_built_from_the_spec(fake_real_packages):
    spec = parse_spec(make_spec(backend="real", training={"batch_size": 4}))
    backend = build_backend(spec)
    assert isinstance(backend.trainer, Trainer) and isinstance(backend.tuner, Tuner)
    (config,) = backend.trainer.trainer.args
    assert (config.batch_size, config.schedule_steps, config.data.corpus) == (4, 270, None)
    assert config.data.vocab_size == spec.arch.base_config().vocab_size
    assert backend.tuner.kwargs["space"].schemes == tuple(spec.system["schemes"])
    assert backend.tuner.kwargs["workload"] == "decode:"  # the spec names no context: the tuner's default
    assert backend.tuner.kwargs["max_trials"] == spec.budget.max_trials  # room kept for compiled finalists


def test_unknown_training_key_is_a_user_error_before_any_backend_is_built():
    with pytest.raises(UserError, match=r"^training\.batch: unknown key"):
        parse_spec(make_spec(backend="real", training={"batch": 4}))


def test_missing_real_package_is_a_user_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sonar.train", None)  # an import of it fails
    monkeypatch.setitem(sys.modules, "sonar.train.trainer", None)
    with pytest.raises(UserError, match="--backend synthetic"):
        import_by_path(REAL_TRAINER)


def test_synthetic_backend_is_resumable_and_deterministic(tmp_path):
    from sonar.interfaces import Candidate

    backend = build_backend(parse_spec(make_spec()), "synthetic")
    config = parse_spec(make_spec()).arch.base_config()
    one_go = Candidate(id="c000", model=config, workdir=tmp_path / "a", seed=1)
    in_steps = Candidate(id="c000", model=config, workdir=tmp_path / "b", seed=1)
    full = backend.trainer.run(one_go, 90)
    backend.trainer.run(in_steps, 30)
    assert backend.trainer.run(in_steps, 90) == full
    assert backend.tuner.run(in_steps, 3) == backend.tuner.run(one_go, 9)[:3]
    assert [p.best_latency_s for p in backend.tuner.run(one_go, 9)] == \
           sorted((p.best_latency_s for p in backend.tuner.run(one_go, 9)), reverse=True)


def test_a_diverged_training_job_publishes_no_checkpoint(tmp_path):
    from sonar.interfaces import CurvePoint
    from sonar.search.backends import PublishingTrainer

    class Diverged:
        def run(self, candidate, until_step, **options):
            return [CurvePoint(step=4, tokens=4, train_loss=float("nan"), val_loss=float("nan"), seconds=1.0)]

        def load_model(self, candidate):  # the weights of a diverged run: never asked for
            raise AssertionError("a diverged candidate's weights were published")

    candidate = types.SimpleNamespace(id="c000", workdir=tmp_path / "c000")
    curve = PublishingTrainer(Diverged()).run(candidate, 4)
    assert curve[-1].step == 4 and not (tmp_path / "c000" / "checkpoint").exists()
