import json

import pytest

from sonar.data import load_corpus, split_corpus
from sonar.data.corpus import builtin_corpus_files
from sonar.errors import UserError


def _write_docs(root, n, words=40):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"doc{i:02d}.txt").write_text(" ".join(f"w{(i * 7 + j) % 23}" for j in range(words)) + f" end{i}\n")
    return root


def test_builtin_corpus_is_modern_spelling_only():
    files = builtin_corpus_files()
    assert len(files) > 30
    assert all(f.name.endswith("_gut.txt") for f in files)


def test_directory_glob_and_file_read_the_same_documents(tmp_path):
    root = _write_docs(tmp_path / "docs", 10)
    by_dir = load_corpus(root)
    by_glob = load_corpus(str(root / "*.txt"))
    assert [d.text for d in by_dir.documents] == [d.text for d in by_glob.documents]
    assert by_dir.digest == by_glob.digest
    assert len(by_dir.documents) == 10


def test_jsonl_reads_the_named_field(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps({"body": f"text number {i}"}) for i in range(9)) + "\n")
    corpus = load_corpus(path, text_field="body")
    assert [d.text for d in corpus.documents] == [f"text number {i}" for i in range(9)]


def test_parquet_reads_the_text_column(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(9)]}), path)
    assert [d.text for d in load_corpus(path).documents] == [f"row {i}" for i in range(9)]


def test_single_file_is_cut_into_sections_so_it_can_split(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("\n\n".join(f"paragraph {i} " + "x" * 100 for i in range(200)))
    corpus = load_corpus(path, section_chars=1000)
    assert len(corpus.documents) > 10
    assert "\n\n".join(d.text for d in corpus.documents) == path.read_text()


def test_split_is_deterministic_disjoint_and_covers_everything(tmp_path):
    corpus = load_corpus(_write_docs(tmp_path / "docs", 20))
    a, b = split_corpus(corpus, val_fraction=0.2), split_corpus(corpus, val_fraction=0.2)
    assert a == b
    assert len(a.val) == 4 and len(a.train) == 16
    assert {d.digest for d in a.train}.isdisjoint({d.digest for d in a.val})
    assert a.record()["val"] == [{"name": d.name, "sha256": d.digest} for d in a.val]


def test_split_depends_on_content_not_on_file_order_or_names(tmp_path):
    corpus = load_corpus(_write_docs(tmp_path / "docs", 20))
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for i, doc in enumerate(reversed(corpus.documents)):
        (renamed / f"z{i:02d}.txt").write_text(doc.text)
    val_a = {d.digest for d in split_corpus(corpus).val}
    val_b = {d.digest for d in split_corpus(load_corpus(renamed)).val}
    assert val_a == val_b


def test_split_keeps_at_least_one_document_on_each_side(tmp_path):
    corpus = load_corpus(_write_docs(tmp_path / "docs", 3), min_documents=1)
    split = split_corpus(corpus, val_fraction=0.01)
    assert len(split.val) == 1 and len(split.train) == 2
    split = split_corpus(corpus, val_fraction=0.99)
    assert len(split.val) == 2 and len(split.train) == 1


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.txt", "does not exist"),
    (lambda p: p / "nomatch-*.txt", "matches no files"),
    (lambda p: (p / "blank.txt").write_text("  \n\n  ") and p / "blank.txt", "is empty"),
    (lambda p: (p / "bad.txt").write_bytes(b"good text \xff\xfe bad") and p / "bad.txt", "not UTF-8"),
    (lambda p: (p / "bad.jsonl").write_text('{"text": "a"}\n{oops\n') and p / "bad.jsonl", "not valid JSON"),
    (lambda p: (p / "nofield.jsonl").write_text('{"body": "a"}\n') and p / "nofield.jsonl", "no string field"),
])
def test_bad_corpora_raise_one_line_user_errors(tmp_path, make, message):
    with pytest.raises(UserError, match=message) as info:
        load_corpus(make(tmp_path))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("where, message", [("/", "the filesystem's root"), ("~", "your home directory")])
def test_a_corpus_that_would_sweep_the_disk_is_refused_before_reading(where, message, tmp_path, monkeypatch):
    from sonar.data.corpus_check import check_corpus

    monkeypatch.setenv("HOME", str(_write_docs(tmp_path / "home", 2)))  # a home that does hold text files
    for read in (load_corpus, check_corpus):
        with pytest.raises(UserError, match=message):
            read(where)
