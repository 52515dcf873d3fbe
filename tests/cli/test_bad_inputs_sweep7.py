"""Bad input found by a seventh sweep, over search, status, report, export, tune, plan and bench (the contract
each case must meet: bad_input_cases.py). Each case was a traceback, a silent acceptance, a misleading message or
a file touched or left behind before it was fixed."""

from __future__ import annotations

import pytest
from bad_input_cases import check_case, cli, params
from bad_input_sandbox import Sandbox


def _search(sb: Sandbox, *flags: str, changes: dict | None = None) -> list[str]:
    return ["search", sb.spec(changes), "--out", "o", "--no-live", *flags]


CASES = [
    # the flag's value was merged into the spec first, and the error named a spec key the user never wrote
    cli("search-workers-above-most", lambda sb: _search(sb, "--workers", "5000"),
        r"--workers 5000: must be between 1 and 1,024"),
    cli("search-executor-empty", lambda sb: _search(sb, "--executor", ""), r"--executor '': must be one of"),
    cli("search-address-empty", lambda sb: _search(sb, "--executor", "ray", "--address", ""),
        r"--address '': not a Ray cluster address"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)

