"""A cheap look at a corpus before any compute: it exists, it can be read, it starts as UTF-8 text.

load_corpus reads everything, which can take minutes on a large corpus; this reads at most the first
bytes of one file, so a search can refuse a bad corpus up front instead of failing in every job.
"""

from __future__ import annotations

import codecs
import glob
import itertools
import os
from pathlib import Path

from sonar.data.corpus import (
    BUILTIN,
    TEXT_SUFFIXES,
    builtin_corpus_files,
    check_corpus_name,
    check_glob_scope,
    check_not_special,
    check_not_sweeping,
    refuse_gzipped,
)
from sonar.data.corpus import _holds_text as holds_text
from sonar.errors import UserError

_HEAD_BYTES = 65536
_SCAN_ENTRIES = 10_000  # a directory or glob is looked at this far; past it, load_corpus decides


def check_corpus(source: str | None, *, text_field: str | None = None) -> None:
    """Raise UserError naming the corpus when load_corpus(source, text_field=text_field) would surely fail to
    read it. A Parquet file's text column is checked only for a caller that names its `text_field`: one that
    does not would be refused a file whose other column is the text it reads."""
    name = BUILTIN if source is None else str(source)
    check_corpus_name(name)
    if name == BUILTIN:
        builtin_corpus_files()
        return
    path = Path(name).expanduser()
    check_not_special(path, name)
    if path.is_dir():
        check_not_sweeping(path, name)
        entries = list(itertools.islice(path.rglob("*"), _SCAN_ENTRIES))
        first = next((p for p in entries if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES), None)
        if first is None and len(entries) < _SCAN_ENTRIES:
            raise UserError(f"corpus directory {name!r} holds no text files ({', '.join(sorted(TEXT_SUFFIXES))})")
        if first is not None:
            _check_file(first)
        _check_not_all_empty([p for p in entries if p.suffix.lower() in TEXT_SUFFIXES], len(entries), name)
    elif path.is_file():
        parquet = path.suffix.lower() == ".parquet"  # read as Parquet only when it is the corpus itself
        head = _check_file(path, parquet=parquet)
        if parquet:
            _check_parquet_column(path, text_field, name)
        if not head.strip() and path.stat().st_size <= _HEAD_BYTES:
            raise UserError(f"corpus {name!r} is empty: it holds no non-blank text")
    elif glob.has_magic(name):
        check_glob_scope(name)
        if glob.has_magic(str(path.parent)) or "**" in path.name:
            return  # matching it may walk a whole tree: load_corpus decides, not this quick look
        matches = list(itertools.islice(glob.iglob(str(path)), _SCAN_ENTRIES))
        first = next((Path(p) for p in matches if Path(p).is_file()), None)
        if first is None and len(matches) < _SCAN_ENTRIES:
            raise UserError(f"corpus glob {name!r} matches no files")
        if first is not None:
            _check_file(first)
        _check_not_all_empty([Path(p) for p in matches], len(matches), name)
    else:
        raise UserError(f"corpus path {name!r} does not exist")


def _check_not_all_empty(files: list[Path], scanned: int, name: str) -> None:
    """Refused as load_corpus refuses it when every file it would read is empty (sizes only: no file is read);
    a scan cut short at _SCAN_ENTRIES leaves it to load_corpus."""
    sized = [p for p in files if p.is_file()]
    if sized and scanned < _SCAN_ENTRIES and all(p.stat().st_size == 0 for p in sized):
        raise UserError(f"corpus {name!r} is empty: it holds no non-blank text")


def _check_parquet_column(path: Path, text_field: str | None, name: str) -> None:
    """The file's schema and row count (no rows read), refused as load_corpus refuses them: no Parquet, no
    rows, or, for a caller that names its text_field, a text column that is not strings. A column the schema
    does not name at top level (missing, or a nested "a.b") is left to load_corpus."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"reading {path} needs pyarrow: pip install 'sonar[parquet]'") from None
    try:
        metadata = pq.read_metadata(path)
        schema = metadata.schema.to_arrow_schema()
    except Exception as err:  # pyarrow raises several types for a file that is no Parquet
        what = f"column {text_field!r} of {path}" if text_field is not None else f"{path} as Parquet"
        raise UserError(f"cannot read {what}: {err}".splitlines()[0]) from None
    if metadata.num_rows == 0:
        raise UserError(f"corpus {name!r} is empty: it holds no non-blank text")
    if text_field is None or schema.names.count(text_field) != 1:
        return
    column_type = schema.field(text_field).type
    if not holds_text(column_type):
        raise UserError(f"{path}: column {text_field!r} holds {column_type}, not text; a corpus reads a column of"
                        " strings")
    if pa.types.is_null(column_type):  # no value in any row
        raise UserError(f"corpus {name!r} is empty: it holds no non-blank text")


def _check_file(path: Path, *, parquet: bool = False) -> bytes:
    """The file's first bytes, once they are known to be readable (and UTF-8, unless it is a Parquet file
    read as one: in a directory or glob every file is read as text)."""
    if not os.access(path, os.R_OK):
        raise UserError(f"corpus file {str(path)!r} is not readable (permission denied)")
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError as err:
        raise UserError(f"corpus file {str(path)!r} cannot be read: {err.strerror}") from None
    if parquet:
        return head  # binary
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut multi-byte tail is fine
    except UnicodeDecodeError as err:
        refuse_gzipped(head, f"corpus file {str(path)!r}")
        raise UserError(f"corpus file {str(path)!r} is not UTF-8: undecodable byte 0x{head[err.start]:02x} "
                        f"at offset {err.start}") from None
    return head
