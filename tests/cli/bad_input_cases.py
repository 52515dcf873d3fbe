"""The bad-input contract, shared by every tests/cli/test_bad_inputs*.py file.

Each case runs in its own sandbox (HOME, SONAR_CACHE and the working directory inside it) and must end
with exit code 2 and exactly one line `error: ...` naming the bad value, no traceback, and no file
outside the case's own output directory changed, removed or left behind. A few cases are correct
behaviour instead (a read on a read-only run works): those must exit 0 and change nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest
from bad_input_sandbox import Sandbox, changes, snapshot
from typer.testing import CliRunner

import sonar
from sonar.cli import app

ALWAYS_WRITABLE = ("cache",)  # sonar's own cache: new entries there touch no user file


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Sandbox], list[str]] | None = None  # a CLI case
    call: Callable[[object], object] | None = None  # a Python API case, given what `setup` returned
    setup: Callable[[Sandbox], object] = lambda sb: None
    expect: str = ""  # regex the error line must match
    writes: tuple[str, ...] = ()  # paths (relative to the sandbox) the case may create or change
    ok: bool = False  # correct behaviour is success, not an error
    permissions: bool = False  # relies on file permissions, which do not bind root
    check: Callable[[Sandbox], None] | None = None  # extra assertion after the run


def cli(id: str, argv, expect: str, **kw) -> Case:
    return Case(id=id, argv=argv if callable(argv) else (lambda sb, a=argv: list(a)), expect=expect, **kw)


def api(id: str, call, expect: str, **kw) -> Case:
    """A Python API case: `call(setup(sandbox))` must raise sonar.UserError with a one-line message."""
    return Case(id=id, call=call, expect=expect, **kw)


def overridden(argv: list[str], *extra: str) -> list[str]:
    """`argv` and then `extra`, where each `--flag value` of `extra` replaces that flag's pair in `argv`: a case
    that changes one setting of a helper's command line gives the flag once, as the CLI refuses a flag given
    twice."""
    given = {arg for arg in extra if arg.startswith("--")}
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in given:
            skip = True  # and its value
        else:
            kept.append(arg)
    return [*kept, *extra]


def params(cases: Iterable[Case], known_failing: dict[str, str] | None = None):
    """pytest params for `cases`, ids checked unique; a known failure is a strict xfail with its reason."""
    cases = list(cases)
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for case in cases:
        marks = [pytest.mark.xfail(strict=True, reason=known_failing[case.id])] if case.id in (known_failing or {}) \
            else []
        if case.permissions:
            marks.append(pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories"))
        yield pytest.param(case, id=case.id, marks=marks)


def check_case(case: Case, sandbox: Sandbox) -> None:
    """Run one case in its sandbox and assert the contract in the module docstring."""
    prepared = case.argv(sandbox) if case.argv else case.setup(sandbox)
    before = snapshot(sandbox.root)
    if case.argv:
        result = CliRunner().invoke(app, prepared, env=sandbox.env())
        error = result.stderr
        raised = result.exception if not isinstance(result.exception, SystemExit) else None
        assert raised is None, f"traceback: {raised!r}"
        if case.ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 2, f"exit {result.exit_code}: {result.output[-400:]}"
            lines = error.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), error
            assert re.search(case.expect, lines[0]), lines[0]
    else:
        with pytest.raises(sonar.UserError) as info:
            case.call(prepared)
        message = str(info.value)
        assert "\n" not in message.strip() and re.search(case.expect, message), message
    lost, stray = changes(before, snapshot(sandbox.root), case.writes + ALWAYS_WRITABLE)
    assert not lost, f"changed or removed: {lost}"
    assert not stray, f"left behind: {stray}"
    if case.check:
        case.check(sandbox)
