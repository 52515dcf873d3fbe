import random

import pytest

from sonar.data import DataConfig, prepare
from sonar.train import CorpusTrainer, TrainConfig

WORDS = "the king queen lord lady love death night day sword crown heart blood fair sweet".split()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small random-word corpus, tokenized once per session into a tmp cache."""
    root = tmp_path_factory.mktemp("corpus")
    rng = random.Random(0)
    for i in range(12):
        lines = (" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(60))
        (root / f"d{i}.txt").write_text("\n".join(lines))
    config = DataConfig(corpus=str(root), vocab_size=300)
    return prepare(config, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def train_config(tiny_data):
    return TrainConfig(batch_size=4, seq_len=32, eval_every=4, eval_batches=1, warmup_steps=2,
                       schedule_steps=16, data=DataConfig(corpus=tiny_data.record["source"], vocab_size=300))


@pytest.fixture
def make_trainer(tiny_data):
    def make(config, **kwargs):
        return CorpusTrainer(config, data=tiny_data, peak_flops=1e10, **kwargs)
    return make
