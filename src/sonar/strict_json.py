"""Strict JSON out: non-finite floats (inf, nan), which strict parsers reject, are written as null.
JSON in: a document nested past the parser's recursion limit, an object that repeats a key (the parser would keep
the last value without a word, where YAML refuses it) or an integer past 64 bits is a JSONDecodeError like any other
malformation."""

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


class RefusedValueError(json.JSONDecodeError):
    """Well-formed JSON that sonar refuses. Its message is only what is wrong: the parser has no position to
    give for it, and a `line 1 column 1` would point at the wrong place."""

    def __str__(self) -> str:
        return self.msg


class DuplicateKeyError(RefusedValueError):
    """An object names the same key twice."""


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


class _OutOfRange(Exception):
    def __init__(self, digits: str) -> None:
        self.digits = digits


# No count, size, step, seed or token id sonar reads needs more than 64 bits; a larger integer failed as an
# OverflowError wherever it met a float (a table's seconds, a config's limits), far from the file.
_INT_LIMIT = 2**63


def _int(digits: str) -> int:
    if len(digits) > 20 or abs(value := int(digits)) >= _INT_LIMIT:  # the length test first: int() of
        raise _OutOfRange(digits)  # thousands of digits is slow, and past 4,300 a ValueError
    return value


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
    and so does an object that repeats a key (`{"vocab_size": 512, "vocab_size": 100000}`) or an integer past
    64 bits."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_int=_int)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text if isinstance(text, str) else "", 0) from None
    except _Repeated as repeated:
        doc = text if isinstance(text, str) else ""
        raise DuplicateKeyError(f"duplicate key {repeated.key!r}", doc, 0) from None
    except _OutOfRange as big:
        shown = big.digits if len(big.digits) <= 24 else f"{big.digits[:12]}...({len(big.digits):,} digits)"
        raise RefusedValueError(f"integer {shown} is out of range (at most 64 bits)",
                                text if isinstance(text, str) else "", 0) from None
