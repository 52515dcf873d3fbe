"""Bad input found by a matrix over every option of every command (the contract each case must meet:
bad_input_cases.py): names too long for any file system, counts past what a worker pool or a tuner takes,
output paths holding a newline, digits of other scripts in number lists, and flags a command would
silently ignore. Each case was a traceback, a silent acceptance or a file left behind before it was fixed."""

from __future__ import annotations

import pytest
from bad_input_cases import check_case, cli, overridden, params
from bad_input_sandbox import Sandbox

LONG = "A" * 10_000  # past PATH_MAX
LONG_NAME = "A" * 300  # one component past NAME_MAX
HUGE = "99999999999999999999"
TOO_LONG = r"File name too long"


def _train(*extra: str):
    return lambda sb: overridden(["train", "--preset", "debug", "--out", "r", "--vocab", "300", "--threads", "1",
                                  "--steps", "1", "--corpus", str(sb.root / sb.corpus())], *extra)


def _suite(sb: Sandbox, *extra: str) -> list[str]:
    return overridden(["bench", "suite", sb.table(), "--seeds", "1", "--jobs", "1", "--methods", "random", "--out",
                       "s.json"], *extra)


def _ablate(sb: Sandbox, *extra: str) -> list[str]:
    return overridden(["bench", "ablate", sb.table("t1.jsonl"), sb.table("t2.jsonl"), "--seeds", "1", "--out",
                       "a.json"], *extra)


def _sft(*extra: str) -> list[str]:
    return ["posttrain", "sft", "--preset", "debug", "--steps", "1", "--threads", "1", "--per-cell", "2", *extra]


def _eval_tasks(sb: Sandbox, *extra: str) -> list[str]:
    return ["eval", "tasks", sb.checkpoint(), "--per-cell", "1", "--threads", "1", "--tasks", "sort", *extra]


CASES = [
    # a path no file system can hold: an OSError traceback from the first stat
    cli("plan-model-path-too-long", ["plan", "--model", LONG], r"\(10,000 characters\): " + TOO_LONG),
    cli("search-out-name-too-long", lambda sb: ["search", sb.spec(), "--out", LONG_NAME], TOO_LONG),
    cli("search-spec-name-too-long", ["search", LONG_NAME, "--out", "o"], TOO_LONG),
    cli("status-run-name-too-long", ["status", LONG_NAME], TOO_LONG),
    cli("export-to-name-too-long", lambda sb: ["export", sb.run(), "--best", "--to", LONG_NAME], TOO_LONG),
    cli("tune-checkpoint-name-too-long", ["tune", "--checkpoint", LONG_NAME, "--trials", "1", "--workdir", "w"],
        TOO_LONG),
    cli("train-corpus-path-too-long", _train("--corpus", LONG), TOO_LONG),
    cli("eval-length-corpus-path-too-long", lambda sb: ["eval", "length", sb.train_run(), "--out", "o", "--threads",
                                                        "1", "--corpus", LONG], TOO_LONG),
    # counts past what the code underneath takes
    cli("plan-table-gpu-counts-10000-digits", ["plan", "--table", "--gpu-counts", "9" * 10_000],
        r"--gpu-counts '9+.*positive integers up to 2,147,483,648"),
    cli("plan-table-gpu-counts-past-most", ["plan", "--table", "--gpu-counts", "1," + HUGE],
        r"--gpu-counts '1,9+': .*up to 2,147,483,648"),
    cli("suite-jobs-huge", lambda sb: _suite(sb, "--jobs", HUGE), r"--jobs 9+: must be between 1 and 1,024"),
    cli("ablate-jobs-huge", lambda sb: _ablate(sb, "--jobs", HUGE), r"--jobs 9+: must be between 1 and 1,024"),
    cli("bench-tune-trials-huge", ["bench", "tune", "--archs", "tiny", "--trials", HUGE, "--workdir", "w",
                                   "--train-steps", "0"], r"--trials 9+: must be between 1 and 1,000,000"),
    # an --out the tuner fills with its own records: IsADirectoryError once every trial had run
    cli("tune-out-is-the-workdir", ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w", "--out", "w"],
        r"--out w: the tuner keeps its records there \(--workdir w\)"),
    cli("tune-out-is-the-prior", ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w", "--out",
                                  "w/systems-prior.json"], r"--out w/systems-prior\.json: the tuner keeps its records"),
    # output paths holding a newline: a directory named 'a\nb' and messages split over two lines
    cli("search-out-newline", lambda sb: ["search", sb.spec(), "--out", "a\nb"],
        r"--out 'a\\nb': holds a control character"),
    cli("train-out-newline", lambda sb: _train("--out", "a\nb")(sb), r"--out 'a\\nb': holds a control character"),
    cli("tune-workdir-tab", ["tune", "--preset", "debug", "--trials", "1", "--workdir", "w\tx"],
        r"--workdir 'w\\tx': holds a control character"),
    cli("posttrain-sft-out-newline", _sft("--out", "a\nb"), r"--out 'a\\nb': holds a control character"),
    cli("export-to-newline", lambda sb: ["export", sb.run(), "--best", "--to", "a\nb"],
        r"'a\\nb': holds a control character"),
    cli("suite-out-newline", lambda sb: _suite(sb)[:-2] + ["--out", "s\n.json"],
        r"--out 's\\n\.json': holds a control character"),
    # digits of another script, which int() and float() read as ASCII ones
    cli("eval-tasks-levels-full-width", lambda sb: _eval_tasks(sb, "--levels", "\uff15"),
        r"--levels '５': comma-separated integers"),
    cli("posttrain-sft-levels-full-width", _sft("--out", "o", "--levels", "1,\uff12"), r"--levels '1,２'"),
    cli("posttrain-tune-seeds-arabic-indic", ["posttrain", "tune", "--preset", "debug", "--out", "o", "--seeds",
                                              "\u0661"], r"--seeds '١': comma-separated integers"),
    cli("posttrain-tune-rl-lrs-full-width", ["posttrain", "tune", "--preset", "debug", "--out", "o", "--rl-lrs",
                                             "\uff11e-4"], r"--rl-lrs '１e-4': comma-separated numbers"),
    cli("eval-length-multiples-full-width", lambda sb: ["eval", "length", sb.train_run(), "--out", "o", "--threads",
                                                        "1", "--multiples", "1,\uff15"], r"--multiples '1,５'"),
    cli("eval-length-depths-full-width", lambda sb: ["eval", "length", sb.train_run(), "--out", "o", "--threads", "1",
                                                     "--depths", "\uff10.5"], r"--depths '０\.5'"),
    cli("suite-quantiles-full-width", lambda sb: _suite(sb, "--quantiles", "\uff10.5"), r"--quantiles '０\.5'"),
    # flags the command would silently ignore
    cli("plan-table-gpus", ["plan", "--table", "--gpus", "0"], r"--gpus does not apply to it"),
    cli("plan-table-several-unused", ["plan", "--table", "--weights", "int4", "--context", "8K", "--hbm-tbps", "3"],
        r"--weights, --context, --hbm-tbps do not apply to it: drop them"),
    cli("plan-table-prefill-tokens", ["plan", "--table", "--prefill-tokens", "0"], r"--prefill-tokens does not apply"),
    cli("plan-table-engine", ["plan", "--table", "--engine", "vllm"], r"--engine does not apply"),
    cli("plan-gpu-counts-without-table", ["plan", "--model", "scout", "--gpu-counts", "1,2"],
        r"--gpu-counts '1,2': applies to --table only"),
    cli("search-resume-backend-empty", lambda sb: ["search", "--resume", sb.run(), "--backend", ""],
        r"--backend '': must be one of", writes=("run",)),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)
