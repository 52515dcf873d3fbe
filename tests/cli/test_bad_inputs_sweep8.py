"""Bad input found by an eighth sweep, over bench train, build, replay, suite, ablate and demo (the contract each
case must meet: bad_input_cases.py). Each case named a Python keyword rather than the flag typed, was refused
only once the work had run, or replayed a variant that is SONAR itself under another name."""

from __future__ import annotations

import pytest
import torch
from bad_input_cases import check_case, cli, params
from bad_input_sandbox import Sandbox

import sonar.cli.demo as demo_cli

HUGE = "1000000000000"
_BENCH_TRAIN = ["bench", "train", "--presets", "debug", "--steps", "1"]
_BUILD = ["bench", "build", "--out", "t.jsonl", "--candidates", "2", "--max-steps", "8", "--max-trials", "1"]


@pytest.fixture(autouse=True)
def no_gpu_and_no_demo_search(monkeypatch):
    """Every case runs as on a machine without a GPU (a present one would start the work the case expects
    refused), and a demo that reaches its search fails at once rather than searching for minutes."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def search_ran(**_):
        raise AssertionError("the demo's search ran")

    monkeypatch.setattr(demo_cli, "search", search_ran)


def _suite(sb: Sandbox, *extra: str) -> list[str]:
    return ["bench", "suite", sb.table(), "--out", "s.json", "--seeds", "1", "--jobs", "1", "--rules", "completed",
            *extra]


def _ablate(sb: Sandbox, *extra: str) -> list[str]:
    return ["bench", "ablate", sb.table("a.jsonl"), sb.table("b.jsonl"), "--seeds", "1", "--jobs", "1", *extra]


def _replay(*extra: str):
    return lambda sb: ["bench", "replay", sb.table(), "--seeds", "1", "--methods", "random", *extra]


def _words(count: int) -> str:
    """A prompt of `count` words: each one at least one token, whatever the demo's BPE learns."""
    return "word " * count


CASES = [
    # "steps=0: ...", "batch_size=0: ...", "seq_len=...": the keywords of the settings underneath
    cli("bench-train-steps-zero", [*_BENCH_TRAIN[:4], "--steps", "0"],
        r"--steps 0: the benchmark measures at least one step"),
    cli("bench-train-batch-size-zero", [*_BENCH_TRAIN, "--batch-size", "0"], r"--batch-size 0: must be an integer"),
    cli("bench-train-seq-len-negative", [*_BENCH_TRAIN, "--seq-len", "-5"], r"--seq-len -5: must be an integer"),
    # "device='gpu': must be ...", "device='cuda': no CUDA device ...; use device=cpu"
    cli("bench-train-device-misspelt", [*_BENCH_TRAIN, "--device", "gpu"],
        r"--device 'gpu': must be cpu, cuda or cuda:N"),
    cli("bench-train-device-absent", [*_BENCH_TRAIN, "--device", "cuda:3"],
        r"--device 'cuda:3': no CUDA device is available here .*; use --device cpu$"),
    cli("train-device-misspelt", ["train", "--preset", "debug", "--steps", "1", "--out", "r", "--device", "CPU"],
        r"--device 'CPU': must be cpu, cuda or cuda:N"),
    cli("train-device-absent", ["train", "--preset", "debug", "--steps", "1", "--out", "r", "--device", "cuda"],
        r"--device 'cuda': no CUDA device is available here .*; use --device cpu$"),
    cli("bench-build-device-misspelt", [*_BUILD, "--device", "gpu"], r"--device 'gpu': must be cpu, cuda or cuda:N"),
    cli("bench-build-device-absent", [*_BUILD, "--device", "cuda"],
        r"--device 'cuda': no CUDA device is available here .*; use --device cpu$"),
    # "device='cuda': ...; use device=cpu", of a device given as --target
    cli("bench-build-target-absent", [*_BUILD, "--target", "cuda"],
        r"--target 'cuda': no CUDA device is available here .*; use --target cpu$"),
    # "seeds=0: must be between 1 and 10,000", "jobs=...": the suite's settings, not the flags
    *(cli(f"{command}-{flag}-{name}", lambda sb, run=run, flag=flag, value=value: run(sb, f"--{flag}", value),
          rf"--{flag} {value}: must be between 1 and {most}")
      for command, run in (("suite", _suite), ("ablate", _ablate))
      for flag, most in (("seeds", "10,000"), ("jobs", "1,024"))
      for name, value in (("zero", "0"), ("negative", "-3"), ("huge", HUGE))),
    # "latency_limit_s=nan: constraint mode needs a finite limit > 0", the Objective's field, once the table was read
    *(cli(f"replay-latency-limit-{name}", _replay("--latency-limit", value),
          rf"--latency-limit {shown}: must be a finite number of seconds > 0")
      for name, value, shown in (("zero", "0", r"0\.0"), ("negative", "-1", r"-1\.0"), ("nan", "nan", "nan"),
                                 ("inf", "inf", "inf"))),
    cli("replay-latency-limit-checked-before-the-table-is-read", ["bench", "replay", "t.jsonl", "--latency-limit", "0"],
        r"--latency-limit 0\.0: must be a finite number"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)
