"""Bad input found by a fourth sweep (the contract each case must meet: bad_input_cases.py). Each case was a
traceback, a silent acceptance, a misleading message or a file left behind before it was fixed."""

from __future__ import annotations

import pytest
from bad_input_cases import check_case, cli, params
from bad_input_sandbox import REAL_SPEC_CHANGES, Sandbox


def _real_search(changes: dict, training: dict | None = None):
    """`sonar search` on the cheap real-backend spec with `changes` (dotted keys allowed) and `training` on top."""
    def argv(sb: Sandbox) -> list[str]:
        return ["search", sb.spec({**REAL_SPEC_CHANGES, "workload": {"kind": "decode", "context": 4},
                                   "training": {**REAL_SPEC_CHANGES["training"], **(training or {})}, **changes}),
                "--out", "run"]
    return argv


CASES = [
    # trained on rows longer than the candidate reads, without a word (exit 0 after minutes)
    cli("search-real-seq-len-past-the-model", _real_search({"arch.max_position_embeddings": [64]},
                                                           {"seq_len": 100_000}),
        r"training\.seq_len: 100,000 tokens per row, but a candidate reads at most 64 positions"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)
