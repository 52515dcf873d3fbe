"""Strict JSON out: non-finite floats (inf, nan), which strict parsers reject, are written as null.
JSON in: a document nested past the parser's recursion limit, or an object that repeats a key (the parser would keep
the last value without a word, where YAML refuses it), is a JSONDecodeError like any other malformation."""

from __future__ import annotations

import json
import math


def finite_or_none(value):
    """`value` with every non-finite float, however deeply nested, replaced by None (tuples become lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value


def dumps_strict(value, **kwargs) -> str:
    """json.dumps that never writes Infinity or NaN (anything else unencodable still raises)."""
    return json.dumps(finite_or_none(value), allow_nan=False, **kwargs)


class DuplicateKeyError(json.JSONDecodeError):
    """An object names the same key twice. Its message is only what is wrong: the parser has no position
    to give for the repeat, and a `line 1 column 1` would point at the wrong place."""

    def __str__(self) -> str:
        return self.msg


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Repeated(key)
            seen.add(key)
    return data


def loads(text: str | bytes):
    """json.loads, where a document nested too deeply for the parser (`[[[[...` in a corrupt or crafted
    file) raises the JSONDecodeError every reader already reports naming the file, not a RecursionError,
    and so does an object that repeats a key (`{"vocab_size": 512, "vocab_size": 100000}`)."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text if isinstance(text, str) else "", 0) from None
    except _Repeated as repeated:
        doc = text if isinstance(text, str) else ""
        raise DuplicateKeyError(f"duplicate key {repeated.key!r}", doc, 0) from None
