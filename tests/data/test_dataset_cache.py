import numpy as np
import pytest

from sonar.data import CACHE_ENV, DataConfig, WindowBatches, cache_root, fixed_windows, prepare, unigram_entropy
from sonar.data.tokenizer import ByteTokenizer
from sonar.errors import UserError


@pytest.fixture
def corpus_dir(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    lines = ["to be or not to be that is the question", "all the world is a stage and all the men",
             "now is the winter of our discontent made glorious summer", "a horse a horse my kingdom for a horse"]
    for i in range(12):
        (root / f"play{i}.txt").write_text("\n".join(lines[(i + j) % 4] + f" {i} {j}" for j in range(30)))
    return root


def _entries(cache):
    return sorted(p.name for p in (cache / "datasets").iterdir()) if (cache / "datasets").exists() else []


def test_bpe_roundtrip_and_cache_hit(tmp_path, corpus_dir):
    cache = tmp_path / "cache"
    config = DataConfig(corpus=str(corpus_dir), vocab_size=300)
    first = prepare(config, cache_dir=cache)
    assert first.vocab_size == 300
    assert isinstance(first.train_ids, np.memmap)
    assert first.train_ids.max() < 300 and first.val_ids.size > 0
    text = (corpus_dir / "play0.txt").read_text()
    assert first.tokenizer.decode(first.tokenizer.encode_batch([text])[0]) == text
    stamp = (first.path / "train.npy").stat().st_mtime_ns
    second = prepare(config, cache_dir=cache)
    assert second.path == first.path and (second.path / "train.npy").stat().st_mtime_ns == stamp
    assert np.array_equal(first.train_ids, second.train_ids)
    assert second.record == first.record and second.record["split"]["val_documents"] == 2


def test_cache_key_follows_settings_and_content(tmp_path, corpus_dir):
    cache = tmp_path / "cache"
    a = prepare(DataConfig(corpus=str(corpus_dir), vocab_size=300), cache_dir=cache)
    b = prepare(DataConfig(corpus=str(corpus_dir), vocab_size=280), cache_dir=cache)
    c = prepare(DataConfig(corpus=str(corpus_dir), tokenizer="byte"), cache_dir=cache)
    (corpus_dir / "play0.txt").write_text("changed content " * 50)
    d = prepare(DataConfig(corpus=str(corpus_dir), vocab_size=300), cache_dir=cache)
    assert len({a.path, b.path, c.path, d.path}) == 4
    assert c.vocab_size == ByteTokenizer.vocab_size
    assert len(_entries(cache)) == 4  # and no staging directories left behind


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_root().name == "sonar"


@pytest.mark.parametrize("vocab, message", [(100, "needs at least 257"), (60000, "supports only")])
def test_unsupported_vocab_fails_and_leaves_no_entry(tmp_path, corpus_dir, vocab, message):
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match=message):
        prepare(DataConfig(corpus=str(corpus_dir), vocab_size=vocab), cache_dir=cache)
    assert _entries(cache) == []
    assert not any(p.name.startswith(".") for p in (cache / "datasets").iterdir())


def test_undecodable_corpus_writes_nothing(tmp_path, corpus_dir):
    (corpus_dir / "broken.txt").write_bytes(b"caf\xe9")
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="broken.txt is not UTF-8"):
        prepare(DataConfig(corpus=str(corpus_dir)), cache_dir=cache)
    assert not cache.exists() or _entries(cache) == []


def test_unigram_entropy_of_known_distributions():
    assert unigram_entropy(np.array([3, 3, 3, 3]), 8) == 0.0
    assert unigram_entropy(np.array([0, 1, 2, 3]), 4) == pytest.approx(np.log(4))


def test_batches_are_a_pure_function_of_the_step():
    ids = np.arange(1000, dtype=np.uint16)
    a = WindowBatches(ids, batch_size=4, seq_len=16, seed=3)
    b = WindowBatches(ids, batch_size=4, seq_len=16, seed=3)
    for step in (0, 5, 17, 40, 3):  # 40 is past the first epoch (62 windows / 4 rows)
        xa, ya = a.batch(step)
        xb, yb = b.batch(step)
        assert xa.equal(xb) and ya.equal(yb)
        assert ya[:, :-1].equal(xa[:, 1:])
    epoch = [w for s in range(16) for w in a.window_indices(s)][:a.n_windows]
    assert sorted(epoch) == list(range(a.n_windows))
    assert not a.batch(0)[0].equal(WindowBatches(ids, batch_size=4, seq_len=16, seed=4).batch(0)[0])


def test_fixed_windows_are_fixed_and_bounded():
    ids = np.arange(500, dtype=np.uint16)
    rows = fixed_windows(ids, n_rows=5, seq_len=20)
    assert rows.shape == (5, 21) and rows.equal(fixed_windows(ids, n_rows=5, seq_len=20))
    with pytest.raises(UserError, match="fewer than seq_len"):
        fixed_windows(ids[:10], n_rows=5, seq_len=20)


@pytest.mark.slow
def test_builtin_corpus_tokenizes(tmp_path):
    data = prepare(DataConfig(), cache_dir=tmp_path)
    assert data.vocab_size == 4096 and data.record["documents"] > 30
    assert 0 < data.record["unigram_entropy_nats"] < np.log(4096)
