"""Bad input found by a ninth sweep (the contract each case must meet: bad_input_cases.py). Each case named a
Python keyword or a role rather than the flag typed, or left out what the flag accepts."""

from __future__ import annotations

import pytest
import torch
from bad_input_cases import check_case, cli, params
from bad_input_sandbox import Sandbox

_BUILD = ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--max-steps", "8", "--max-trials", "1"]


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch):
    """Every case runs as on a machine without a GPU, where a present one would start the work it expects
    refused."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _rl(sb: Sandbox, *extra: str) -> list[str]:
    return ["posttrain", "rl", "--from", sb.checkpoint(), "--out", "o", *extra]


CASES = [
    # "trainer 'nope': expected 'package.module:Name'": the import's role, no flag, and no class that works
    *(cli(f"bench-build-{flag}-{name}", [*_BUILD, f"--{flag}", value],
          rf"^error: --{flag} '{escaped}'{reason}; name a {kind} class, such as the built-in {default}$")
      for flag, kind, default in (("trainer", "Trainer", r"sonar\.train\.trainer:CorpusTrainer"),
                                  ("tuner", "Tuner", r"sonar\.systems\.tuner:SystemTuner"))
      for name, value, escaped, reason in (
          ("malformed", "nope", "nope", r": expected 'package\.module:Name'"),
          ("missing-module", "nope.x:Y", r"nope\.x:Y", r" is not available here \(No module named 'nope'\); .*"),
          ("missing-class", "sonar.bench.build:Nope", r"sonar\.bench\.build:Nope",
           r": sonar\.bench\.build has no 'Nope'"))),
    # "archs ['nope']: unknown; choose from [...]": the bench's keyword and Python lists
    *(cli(f"bench-tune-archs-{name}", ["bench", "tune", "--archs", value, "--workdir", "w"],
          rf"^error: --archs '{value}': unknown architecture {bad}; choose from tiny, small, small-interleaved$")
      for name, value, bad in (("unknown", "nope", "nope"), ("one-unknown", "tiny,nope", "nope"))),
    # correct already, and kept: a negative --train-steps names the flag (0 is documented: tune the random init)
    cli("bench-tune-train-steps-negative", ["bench", "tune", "--train-steps", "-1", "--workdir", "w"],
        r"^error: --train-steps -1: must be from 0 to 1,000,000,000 \(0: tune the random init\)$"),
    # "--max-level 1: must be >= start_level=3": the bound named by the curriculum's keyword
    cli("posttrain-rl-max-level-below-start-level", lambda sb: _rl(sb, "--start-level", "3", "--max-level", "1"),
        r"^error: --max-level 1: must be >= --start-level 3$"),
    cli("posttrain-rl-max-level-below-default-start-level", lambda sb: _rl(sb, "--max-level", "1"),
        r"^error: --max-level 1: must be >= --start-level 2$"),
    # "unknown GPU 'nope'; ...", "unknown weight format 'nope'; ...", "unknown KV cache dtype ...": no flag named
    *(cli(f"plan-{where}{flag}-{name}", ["plan", *model, f"--{flag}", value], rf"^error: --{flag} {expect}")
      for where, model in (("", ["--model", "scout"]), ("table-", ["--table"]))
      for flag, name, value, expect in (
          ("gpu", "unknown", "nope", r"'nope': unknown GPU; choose one of \['a100-40gb', .* or a capacity such as"),
          ("gpu", "fractional-bytes", "5.5", r"'5\.5': GPU capacity: a byte count is a whole number; for gigabytes"
                                             r" write 5\.5GB or 5\.5GiB$"),
          ("weights", "unknown", "int2", r"'int2': unknown weight format; choose one of \['bf16', "),
          ("kv-dtype", "unknown", "int4", r"'int4': unknown KV cache dtype; choose one of \['bf16', 'fp8'\]$"))),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)
