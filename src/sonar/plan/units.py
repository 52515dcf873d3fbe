"""Reading token counts and writing byte counts, for the planner's command line and tables."""

from __future__ import annotations

import re
from decimal import Decimal

from sonar.errors import UserError

# Context lengths are quoted in binary units: "128K" is 131,072 tokens, "10M" 10,485,760.
_TOKEN_UNITS = {"": 1, "k": 1024, "m": 1024**2}
# ASCII only: `\d` alone would read '٣K' (Arabic-Indic) or '３K' (full-width) as 3K, which no other count takes.
_TOKENS = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([kKmM]?)\s*$", re.ASCII)
# Far beyond any model's context (Llama 4 Scout: 10M), yet small enough for exact integer arithmetic.
MAX_TOKENS = 2**40


def parse_tokens(text: str, flag: str = "--context") -> int:
    match = _TOKENS.match(text)
    if not match:
        raise UserError(f"{flag} {text!r}: not a token count (use e.g. 131072, 128K or 10M)")
    number, unit = match.groups()
    value = Decimal(number) * _TOKEN_UNITS[unit.lower()]  # exact: 1.1K is 1126.4, not 1126.4000000000001
    if value > MAX_TOKENS:
        raise UserError(f"{flag} {text!r}: at most {MAX_TOKENS:,} tokens")
    if value < 1:
        raise UserError(f"{flag} {text!r}: must be a positive number of tokens")
    if value != value.to_integral_value():  # int() would drop the fraction without a word
        raise UserError(f"{flag} {text!r}: {value.normalize():f} tokens is not a whole number; give a whole count "
                        "(e.g. 1.5K is 1536)")
    return int(value)


def format_bytes(nbytes: int) -> str:
    """Decimal units (GB = 1e9 bytes), as GPU memory and model sizes are usually quoted."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if nbytes >= size:
            return f"{nbytes / size:.2f} {unit}"
    return f"{nbytes} B"


def format_per_token(nbytes: int) -> str:
    """Per-token KV sizes are powers of two: binary units read exactly (4 KiB, 48 KiB)."""
    return f"{nbytes / 1024:g} KiB" if nbytes >= 1024 else f"{nbytes} B"


def format_count(count: int) -> str:
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.2f}{unit}"
    return str(count)
