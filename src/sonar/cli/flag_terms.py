"""Refusals from the settings underneath a command, put in the terms of the flags the user typed: the settings
name their Python keywords (`seq_len=5000: ...`, `use device=cpu`), which no command takes."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sonar.errors import UserError


@contextmanager
def as_flags(flags: Mapping[str, str]) -> Iterator[None]:
    """A UserError raised inside, with each keyword of `flags` (keyword -> flag) that opens the message, follows
    its advice `use` or is the bound a value is compared with put as the flag: `seq_len=5000: ...` reads
    `--seq-len 5000: ...`, `must be >= start_level=2` reads `must be >= --start-level 2`. Only those places are
    rewritten, so a value quoted in between is shown as it was given."""
    try:
        yield
    except UserError as err:
        message = str(err)
        for keyword, flag in flags.items():
            message = re.sub(rf"(^|\buse |[<>]=? |\bat (?:most|least) ){re.escape(keyword)}=", rf"\g<1>{flag} ",
                             message)
        if message == str(err):
            raise
        raise UserError(message) from None


@contextmanager
def as_flag_of(role: str, flag: str, accepted: str) -> Iterator[None]:
    """A UserError raised inside that opens with the `role` a value plays (`trainer 'nope': expected ...`,
    as sonar.importing words it) opened with the flag it was typed as instead, and `accepted` added: the role
    named no flag, and the form it expects named no value that works."""
    try:
        yield
    except UserError as err:
        message = str(err)
        if not message.startswith(role + " "):
            raise
        raise UserError(f"{flag}{message[len(role):]}; {accepted}") from None


@contextmanager
def typed_as(flag: str, value: str | None, opening: str | None = None) -> Iterator[None]:
    """A UserError raised inside that quotes `value` but names no flag (`unknown GPU 'nope'; choose ...`, in
    the words of the settings underneath) opened with the flag and the value instead: `--gpu 'nope': unknown
    GPU; choose ...`. A message that begins with `opening` is about the value too, and is kept whole after the
    flag, even where it quotes the value in another form (a corpus's absolute path)."""
    try:
        yield
    except UserError as err:
        message, quoted = str(err), repr(value)
        if value is None or message.startswith("-"):
            raise
        if opening is not None and message.startswith(opening):
            pass  # kept whole: it may quote the value in another form, or quote what the value named
        elif f" {quoted}" in message:
            message = message.replace(f" {quoted}", "", 1)
        else:
            raise
        raise UserError(f"{flag} {quoted}: {message}") from None


@contextmanager
def about_path(flag: str, path: object) -> Iterator[None]:
    """A UserError raised inside that opens with the `path` a flag gave (`ckpt: no config.json ...`, as the
    checkpoint and run readers word it), or with that path made absolute, opened with the flag and the path as
    typed: `--from ckpt: no config.json ...`."""
    try:
        yield
    except UserError as err:
        message = str(err)
        if path is None or (str(path) and not str(path).strip()):
            raise
        typed = str(path) or "''"  # '' is read as the working directory, and named "."
        for shown in (os.path.realpath(path), str(Path(path))):
            if message.startswith(shown) and message[len(shown):][:1] in (":", " ", "/"):
                raise UserError(f"{flag} {typed}{message[len(shown):]}") from None
        raise


@contextmanager
def as_typed_lists(lists: Mapping[str, tuple[str, str]]) -> Iterator[None]:
    """A UserError raised inside that opens with a list setting as Python shows it (`multiples=[0]: ...`), for a
    keyword of `lists` (keyword -> (flag, the text typed)), opened with the flag and that text instead:
    `--multiples '0': ...`."""
    try:
        yield
    except UserError as err:
        message = str(err)
        for keyword, (flag, typed) in lists.items():
            opening = re.match(rf"{re.escape(keyword)}=[\[(].*?[\])]: ", message)
            if opening:
                raise UserError(f"{flag} {typed!r}: {message[opening.end():]}") from None
        raise


def typed_flags(context) -> set[str]:
    """The flags given on the command line (or from the environment), whatever their values: a flag typed with
    its default value is still a flag the user gave, and one a command reads no value of is refused, not
    ignored."""
    typed = set()
    for param in context.command.params:
        source = context.get_parameter_source(param.name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            typed.update(getattr(param, "opts", ()))
    return typed


def same_named_flags(*keywords: str) -> dict[str, str]:
    """keyword -> flag, for settings whose flag is the keyword's own name (batch_size: --batch-size)."""
    return {keyword: "--" + keyword.replace("_", "-") for keyword in keywords}


def check_device_flag(name: str, flag: str = "--device") -> None:
    """The device's spelling (cpu, cuda or cuda:N), refused in the flag's terms."""
    from sonar.train.device import check_device_name

    with as_flags({"device": flag}):
        check_device_name(name)


def resolve_device_flag(name: str, flag: str = "--device"):
    """The torch device, which must be present here, refused in the flag's terms."""
    from sonar.train.device import resolve_device

    with as_flags({"device": flag}):
        return resolve_device(name)
