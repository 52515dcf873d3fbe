"""Strict JSON out: non-finite floats (inf, nan), which strict parsers reject, are written as null.
JSON in: a document nested past the parser's recursion limit is a JSONDecodeError like any other malformation."""

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


def loads(text: str | bytes):
    """json.loads, where a document nested too deeply for the parser (`[[[[...` in a corrupt or crafted
    file) raises the JSONDecodeError every reader already reports naming the file, not a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text if isinstance(text, str) else "", 0) from None
