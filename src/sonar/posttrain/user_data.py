"""User data as JSON lines: {prompt, response} pairs for SFT, {prompt, chosen, rejected} for DPO.

Every malformed line is one UserError naming the file, the line number and what is wrong with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sonar import strict_json
from sonar.errors import UserError

SFT_FIELDS = ("prompt", "response")
PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class Pair:
    prompt: str
    response: str


@dataclass(frozen=True)
class Preference:
    prompt: str
    chosen: str
    rejected: str


def _gzipped(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(2) == b"\x1f\x8b"


def _records(path: str | Path, fields: tuple[str, ...], problem=lambda record: None) -> list[dict]:
    """The file's records, each a JSON object with `fields` as non-empty strings and no `problem(record)`."""
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO waited for a writer forever
        raise UserError(f"{path}: not a regular file (a FIFO, device or socket); name a JSONL file")
    try:
        # utf-8-sig: a file saved by an editor that starts it with a byte-order mark failed as "Unexpected UTF-8 BOM"
        # split on line ends only: str.splitlines() also cuts at U+2028 or U+0085, which a JSON string may hold
        # unescaped, and failed a valid line as "Unterminated string"
        lines = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        if _gzipped(path):  # else "not UTF-8 text (byte 1)", which said nothing of the compression
            raise UserError(f"{path}: gzip-compressed; JSON lines are read as plain text: decompress it"
                            " first") from None
        raise UserError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = strict_json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(record, dict):
            raise UserError(f"{where}: expected a JSON object with {list(fields)}, got {type(record).__name__}")
        missing = [f for f in fields if f not in record]
        if missing:
            raise UserError(f"{where}: missing {missing}; each line needs {list(fields)}")
        wrong = [f for f in fields if not isinstance(record[f], str) or not record[f]]
        if wrong:
            raise UserError(f"{where}: {wrong} must be non-empty strings")
        lone = [f for f in fields if not _encodable(record[f])]
        if lone:  # a \ud800 escape parses, but no tokenizer can encode it (a UnicodeEncodeError mid-run)
            raise UserError(f"{where}: {lone} hold a lone surrogate escape such as \\ud800, which is no character")
        if (found := problem(record)) is not None:
            raise UserError(f"{where}: {found}")
        records.append(record)
    if not records:
        raise UserError(f"{path}: holds no records; each line needs {list(fields)}")
    return records


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_pairs(path: str | Path) -> list[Pair]:
    return [Pair(prompt=r["prompt"], response=r["response"]) for r in _records(path, SFT_FIELDS)]


def _same_replies(record: dict) -> str | None:
    # The DPO loss of such a pair is log 2 whatever the model does: it teaches nothing and hides a data error.
    if record["chosen"] == record["rejected"]:
        return "'chosen' and 'rejected' are the same reply; a preference needs two different ones"
    return None


def read_preferences(path: str | Path) -> list[Preference]:
    return [Preference(prompt=r["prompt"], chosen=r["chosen"], rejected=r["rejected"])
            for r in _records(path, PREFERENCE_FIELDS, _same_replies)]
