"""The weights `sonar bench tune` tunes: trained once, resumable, kept apart from random-init tunings."""

import pytest
import torch
from typer.testing import CliRunner

from sonar.cli import app
from sonar.data.dataset import DataConfig
from sonar.errors import UserError
from sonar.interfaces import Candidate
from sonar.model import build_model, preset
from sonar.systems.bench_weights import bench_workdir, check_train_steps, train_for_bench
from sonar.systems.tuner import load_candidate_model
from word_corpus import write_word_corpus


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("SONAR_CACHE", str(tmp_path / "cache"))
    return DataConfig(corpus=str(write_word_corpus(tmp_path / "corpus")), vocab_size=300)


def test_trains_once_and_the_tuner_loads_the_trained_weights(tmp_path, data, monkeypatch):
    monkeypatch.setattr("sonar.train.runtime.idle_cores", lambda available: 1)  # as on a busy machine
    config = preset("debug").replace(vocab_size=300)
    arch = bench_workdir(tmp_path / "bench", "debug", 3)
    lines = []
    torch.set_num_threads(2)
    threads = torch.get_num_threads()
    first = train_for_bench(config, arch, 3, shape="debug", data=data, log=lines.append)
    assert first["steps"] == 3 and first["val_loss"] > 0 and lines
    assert torch.get_num_threads() == threads  # the tuning that follows runs at the process's own count
    model, source = load_candidate_model(Candidate(id="debug", model=config, workdir=arch))
    assert source == str(arch / "checkpoint")
    init = build_model(config, seed=0)
    assert not torch.equal(model.embed.weight, init.embed.weight)

    stamp = (arch / "checkpoint" / "config.json").stat().st_mtime_ns
    again = train_for_bench(config, arch, 3, shape="debug", data=data)
    assert again == first  # resumed at its last step: nothing trained or written again
    assert (arch / "checkpoint" / "config.json").stat().st_mtime_ns == stamp


def test_zero_steps_tunes_the_random_init_in_its_own_folder(tmp_path):
    assert train_for_bench(preset("debug"), tmp_path / "debug", 0, shape="debug") is None
    assert not (tmp_path / "debug").exists()
    assert bench_workdir(tmp_path, "tiny", 0) != bench_workdir(tmp_path, "tiny", 200)


def test_a_vocabulary_the_tokenizer_does_not_have_is_refused(tmp_path, data):
    with pytest.raises(UserError, match="tokenizer has 300 tokens"):
        train_for_bench(preset("debug"), tmp_path / "debug", 1, shape="debug", data=data)


@pytest.mark.parametrize("steps", [-1, 1.5, True, "3"])
def test_train_steps_must_be_a_count(steps):
    with pytest.raises(UserError, match="train_steps"):
        check_train_steps(steps)


def test_bench_tune_refuses_negative_train_steps(tmp_path):
    result = CliRunner().invoke(app, ["bench", "tune", "--train-steps", "-1", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "--train-steps -1" in result.output
    assert not any(tmp_path.iterdir())


def _fake_samples(monkeypatch, per_config: dict):
    from sonar.systems import bench

    def interleaved(model, configs, workload, reference, rounds):
        return [list(per_config[config]) for config in configs]

    monkeypatch.setattr(bench, "_interleaved", interleaved)


def test_the_default_at_the_tuned_threads_is_pooled_when_it_is_the_default(monkeypatch):
    from sonar.systems.bench import remeasure
    from sonar.systems.config import SystemConfig

    default, tuned = SystemConfig(), SystemConfig(compile="default", moe_dispatch="gather")
    # Measured twice in the same rounds, one config must give one latency, not two ratios.
    _fake_samples(monkeypatch, {default: [3.0, 3.1, 7.8], tuned: [1.0, 1.0, 1.0]})
    default_s, tuned_s, same_threads_s = remeasure(None, default, tuned, default, None, None)
    assert default_s == same_threads_s == 3.1 and tuned_s == 1.0


def test_the_default_at_other_threads_is_its_own_measurement(monkeypatch):
    from sonar.systems.bench import remeasure
    from sonar.systems.config import SystemConfig

    default, tuned = SystemConfig(), SystemConfig(threads=1, compile="default", moe_dispatch="gather")
    _fake_samples(monkeypatch, {default: [3.0, 3.0, 3.0], tuned: [1.0, 1.0, 1.0], SystemConfig(threads=1): [2.0] * 3})
    assert remeasure(None, default, tuned, SystemConfig(threads=1), None, None) == (3.0, 1.0, 2.0)


def test_a_bench_whose_every_trial_fails_says_so_in_one_line(tmp_path, monkeypatch):
    from sonar.interfaces import TuningPoint
    from sonar.systems import Workload
    from sonar.systems.bench import bench_one

    failed = [TuningPoint(trial=1, seconds=1.0, config={}, latency_s=float("inf"), spread_s=0.0, quality_delta=0.0,
                          best_latency_s=float("inf"), failure="out of memory")]

    class FailingTuner:
        def __init__(self, **settings):
            pass

        def run(self, candidate, trials):
            return failed

    monkeypatch.setattr("sonar.systems.bench.SystemTuner", FailingTuner)
    with pytest.raises(UserError, match="debug: no configuration ran.*out of memory"):
        bench_one("debug", preset("debug"), workdir=tmp_path, trials=1, workload=Workload.parse("decode:ctx=8"),
                  bandwidth=1e10, quality_limit=0.01)
