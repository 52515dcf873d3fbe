"""Comma-separated lists given on the command line (methods, rules, architectures, compile modes)."""

from __future__ import annotations

from collections.abc import Sequence

from sonar.errors import UserError


def name_list(text: str, flag: str, *, what: str = "name", choices: Sequence[str] = ()) -> tuple[str, ...]:
    """The names in `text`, blanks dropped; a list naming nothing is refused (never read as "the default"),
    and so is a name given twice, which would otherwise count twice."""
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        hint = f"; choose from {', '.join(choices)}" if choices else ""
        raise UserError(f"{flag} {text!r}: names no {what}{hint} (or leave {flag} out)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"{flag} {text!r}: {', '.join(repeated)} named more than once: name each {what} once,"
                        " not twice")
    return names


def refuse_unknown(names: Sequence[str], choices: Sequence[str], flag: str, text: str, *, what: str) -> None:
    """Each of `names` (as parsed from the `text` given with `flag`) is one of `choices`; the unknown ones are
    refused in the flag's terms, with what is accepted."""
    unknown = [name for name in names if name not in choices]
    if unknown:
        raise UserError(f"{flag} {text!r}: unknown {what} {', '.join(unknown)}; choose from {', '.join(choices)}")


def ascii_number(text: str) -> str:
    """`text`, when it is written in ASCII: int() and float() also read other scripts' digits ('５', '٣') and
    a flag never means those. Raises ValueError, as int() and float() do for what they cannot read, so a
    parser's own message for a malformed list covers it."""
    if not text.isascii():
        raise ValueError(f"{text!r} is not written in ASCII")
    return text
