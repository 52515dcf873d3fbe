"""Bad input found by a fifth sweep (the contract each case must meet: bad_input_cases.py). Each case was a
traceback, a silent acceptance, a misleading message or a file left behind before it was fixed."""

from __future__ import annotations

import pytest
from bad_input_cases import api, check_case, cli, params
from typer.testing import CliRunner

from sonar.cli import app
from sonar.systems.tuner import SystemTuner


def _tune(*extra: str) -> list[str]:
    return ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w", *extra]


CASES = [
    # a quality delta is a relative error: past 1 every configuration passes, so the limit tuned nothing
    cli("tune-quality-limit-huge", _tune("--quality-limit", "1e20"), r"--quality-limit 1e\+20: must be at most 1"),
    cli("bench-tune-quality-limit-above-one", ["bench", "tune", "--trials", "1", "--train-steps", "0", "--workdir",
                                               "bt", "--quality-limit", "2"],
        r"--quality-limit 2\.0: must be at most 1"),
    api("api-tuner-quality-limit-huge", lambda _: SystemTuner(quality_limit=1e20),
        r"quality_limit=1e\+20: must be at most 1"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


def test_eval_length_help_says_what_zero_cached_windows_means():
    # 0 is legal (the cached path is skipped), so the help must say so rather than leave it to look like a typo
    result = CliRunner().invoke(app, ["eval", "length", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "0: skip the cached path" in result.stdout
