"""Bad input found by a seventh sweep, over search, status, report, export, tune, plan and bench (the contract
each case must meet: bad_input_cases.py). Each case was a traceback, a silent acceptance, a misleading message or
a file touched or left behind before it was fixed."""

from __future__ import annotations

import gzip
import os
import socket

import pytest
from bad_input_cases import check_case, cli, params
from bad_input_sandbox import Sandbox
from typer.testing import CliRunner

from sonar.cli import app

_SYNTH = ["bench", "build", "--synthetic", "--candidates", "2", "--max-steps", "8", "--max-trials", "1"]


def _search(sb: Sandbox, *flags: str, changes: dict | None = None) -> list[str]:
    return ["search", sb.spec(changes), "--out", "o", "--no-live", *flags]


def _run_with_broken_checkpoint(sb: Sandbox) -> list[str]:
    """The winner's workdir holds a checkpoint whose config.json was cut to nothing."""
    run = sb.run()
    sb.file(f"{run}/candidates/c001/ckpt/config.json", "")
    sb.file(f"{run}/candidates/c001/ckpt/model.safetensors", "junk")
    return ["export", run, "--best", "--to", "ex"]


def _pareto_scoreboard_as_constraint(sb: Sandbox) -> list[str]:
    """A Pareto suite's JSON given as --scoreboard, to a README with the constraint suite's blocks."""
    ran = CliRunner().invoke(app, ["bench", "suite", sb.table(), "--out", "p.json", "--seeds", "1", "--jobs", "1",
                                   "--methods", "random,sonar", "--mode", "pareto"], env=sb.env())
    assert ran.exit_code == 0, ran.output
    sb.file("R.md", "".join(f"<!-- figures:{name} -->\n<!-- /figures:{name} -->\n"
                            for name in ("measured", "synthetic", "per-table", "ahead")))
    return ["bench", "figures", "--scoreboard", "p.json", "--readme", "R.md"]


def _tables_beside(sb: Sandbox, odd) -> str:
    """A directory `d` holding a table and, named like another table, what `odd(path)` makes there."""
    (sb.root / "d").mkdir()
    sb.table("d/a.jsonl")
    odd(sb.root / "d" / "b.jsonl")
    return "d"


def _site_with_own_page(sb: Sandbox) -> list[str]:
    """A user's site folder whose only file is their own index.html."""
    sb.file("site/index.html", "<html><body>my own page</body></html>\n")
    return ["report", sb.run(), "--out", "site"]


CASES = [
    # the flag's value was merged into the spec first, and the error named a spec key the user never wrote
    cli("search-workers-above-most", lambda sb: _search(sb, "--workers", "5000"),
        r"--workers 5000: must be between 1 and 1,024"),
    cli("search-executor-empty", lambda sb: _search(sb, "--executor", ""), r"--executor '': must be one of"),
    cli("search-address-empty", lambda sb: _search(sb, "--executor", "ray", "--address", ""),
        r"--address '': not a Ray cluster address"),
    # a synthetic spec run with --backend real skipped the real backend's checks: every train job failed on the
    # byte tokenizer's 257 ids against the candidates' 512, and the search ended "no candidate meets the
    # objective", exit 0, its run directory left behind
    cli("search-backend-real-on-a-synthetic-spec", lambda sb: _search(
        sb, "--backend", "real", changes={"data": {"corpus": "builtin", "tokenizer": "byte"}}),
        r"--backend real: data\.tokenizer: byte gives 257 tokens, but a candidate has vocab_size=512"),
    # accepted: a new search written inside another run's candidates/ folder, among that run's records
    cli("search-out-inside-another-run", lambda sb: _search(sb)[:3] + [f"{sb.run()}/candidates/new", "--no-live"],
        r"--out run/candidates/new: inside the search run run; name a directory outside it"),
    # "not UTF-8 text (undecodable byte 0x8b at offset 1)": nothing said the file was compressed
    cli("search-spec-gzipped", lambda sb: ["search", sb.file("s.yaml.gz", gzip.compress(
        (sb.root / sb.spec()).read_bytes())), "--out", "o"],
        r"s\.yaml\.gz: gzip-compressed; a spec is read as YAML text: decompress it first"),
    # "max_trials=...: must be an integer from 1 to 1,000,000": the tuner's keyword, not the flag
    cli("tune-trials-above-most", ["tune", "--preset", "debug", "--trials", "2000000", "--workdir", "w"],
        r"--trials 2000000: must be between 1 and 1,000,000"),
    cli("bench-tune-trials-zero-names-the-flag", ["bench", "tune", "--archs", "tiny", "--trials", "0",
                                                  "--workdir", "w"], r"--trials 0: must be between 1 and"),
    cli("bench-tune-train-steps-negative", ["bench", "tune", "--archs", "tiny", "--trials", "1", "--workdir", "w",
                                            "--train-steps", "-1"], r"--train-steps -1: must be from 0 to"),
    # on an existing table: "exists: pass --resume to continue it", with --resume passed; on a new one, ignored
    cli("bench-build-synthetic-resume-existing", lambda sb: [*_SYNTH, "--out", sb.table(), "--resume"],
        r"--resume: a --synthetic table is written whole in one go and has nothing to resume"),
    cli("bench-build-synthetic-resume-new", [*_SYNTH, "--out", "t.jsonl", "--resume"],
        r"--resume: a --synthetic table is written whole in one go"),
    # "--readme R.md: no such file", of a folder that is there
    cli("figures-readme-is-a-folder", lambda sb: (sb.root / "R.md").mkdir() or [
        "bench", "figures", "--scoreboard", sb.file("s.json", "{}"), "--readme", "R.md"],
        r"--readme R\.md: is a directory"),
    # the Pareto figures were written into the constraint suite's blocks, under their headings, exit 0
    cli("figures-scoreboard-is-a-pareto-suite", _pareto_scoreboard_as_constraint,
        r"--scoreboard p\.json: a suite run with --mode pareto; pass it as --pareto, and the constraint suite's JSON"
        r" as --scoreboard"),
    # accepted: a checkpoint written under another run's candidate folder, where that run's own export then takes
    # the newest checkpoint it finds, this one
    cli("export-to-inside-another-run", lambda sb: ["export", sb.run(), "--best", "--to",
                                                    f"{sb.run('other')}/candidates/c001/ex"],
        r"--to other/candidates/c001/ex: inside the search run other; export to a directory outside it"),
    # a directory's entries named like tables were opened as tables: an IsADirectoryError or FileNotFoundError
    # traceback, and a FIFO waited for a writer forever
    cli("suite-dir-holds-a-folder-named-like-a-table", lambda sb: [
        "bench", "suite", _tables_beside(sb, lambda p: p.mkdir()), "--out", "s.json", "--seeds", "1", "--jobs", "1",
        "--methods", "random"], r"d/b\.jsonl: not a regular file \(a directory, FIFO, device or socket\); a benchmark"
                                r" table is a JSON-lines file"),
    cli("suite-dir-holds-a-fifo-named-like-a-table", lambda sb: [
        "bench", "suite", _tables_beside(sb, os.mkfifo), "--out", "s.json", "--seeds", "1", "--jobs", "1",
        "--methods", "random"], r"d/b\.jsonl: not a regular file"),
    cli("ablate-dir-holds-a-dangling-link", lambda sb: [
        "bench", "ablate", _tables_beside(sb, lambda p: os.symlink("gone.jsonl", p)), "--seeds", "1", "--jobs", "1",
        "--switch", "forecast"], r"d/b\.jsonl: a link to gone\.jsonl, which does not exist"),
    cli("suite-table-is-a-fifo", lambda sb: os.mkfifo(sb.root / "t.jsonl") or [
        "bench", "suite", "t.jsonl", "--out", "s.json", "--seeds", "1", "--jobs", "1"],
        r"t\.jsonl: not a regular file"),
    # "r: not a search directory (no search.db)", of a run whose search.db is there
    cli("status-database-is-a-folder", lambda sb: (sb.root / "r" / "search.db").mkdir(parents=True) or ["status", "r"],
        r"r/search\.db: not a regular file"),
    cli("report-database-is-a-fifo", lambda sb: (sb.root / "r").mkdir() or os.mkfifo(sb.root / "r" / "search.db") or [
        "report", "r"], r"r/search\.db: not a regular file"),
    cli("export-database-is-a-folder", lambda sb: (sb.root / "r" / "search.db").mkdir(parents=True) or [
        "export", "r", "--best", "--to", "ex"], r"r/search\.db: not a regular file"),
    cli("resume-database-is-a-folder", lambda sb: (sb.root / "r" / "search.db").mkdir(parents=True) or [
        "search", "--resume", "r"], r"r/search\.db: not a regular file"),
    # a real run's candidates/ holds <id>/systems, which passed for an earlier tuning's records: the tuner's prior
    # and a folder of its own were written among the run's candidates
    cli("tune-workdir-inside-a-search-run", lambda sb: (sb.root / sb.run() / "candidates/c000/systems").mkdir() or [
        "tune", "--preset", "debug", "--trials", "1", "--workdir", "run/candidates"],
        r"--workdir run/candidates: inside the search run run; name a directory outside it"),
    # a link to nowhere, named as the output, was replaced by the file without a word
    cli("bench-build-out-dangling-link", lambda sb: os.symlink("gone.jsonl", sb.root / "t.jsonl") or [
        *_SYNTH, "--out", "t.jsonl"], r"--out t\.jsonl: is a link to gone\.jsonl, which does not exist"),
    cli("suite-out-dangling-link", lambda sb: os.symlink("gone.json", sb.root / "s.json") or [
        "bench", "suite", sb.table(), "--out", "s.json", "--seeds", "1", "--jobs", "1", "--methods", "random"],
        r"--out s\.json: is a link to gone\.json, which does not exist"),
    # ".../trained/model/.sonar-output.json: sonar did not write it", of the marker sonar wrote with the checkpoint
    cli("export-overwrite-into-a-train-run", lambda sb: ["export", sb.run(), "--best", "--to", sb.train_run(),
                                                         "--overwrite"],
        r"--to trained: trained/model holds a sonar checkpoint, which the export writes its model over"),
    # "/abs/path/ex/model/config.json: is empty; expected a JSON object": the export's copy, a path that was not
    # there (the staging folder was removed), and nothing said which candidate's checkpoint was broken
    cli("export-winner-checkpoint-config-empty", _run_with_broken_checkpoint,
        r"candidate c001's checkpoint run/candidates/c001/ckpt cannot be exported: run/candidates/c001/ckpt/"
        r"config\.json: is empty"),
    # accepted and ignored: --seed seeds the random-weight model of --preset, and a checkpoint brings its weights
    cli("tune-checkpoint-with-seed", lambda sb: ["tune", "--checkpoint", sb.checkpoint(), "--seed", "7", "--trials",
                                                 "1", "--workdir", "w"],
        r"--seed 7: seeds the random-weight model of --preset; --checkpoint ckpt brings its own weights"),
    # replayed in full, and reported as a rule that does not earn its place: ablate replays constraint mode, where
    # a Pareto-only rule never acts, so the variant was SONAR itself under another name
    cli("ablate-switch-pareto-only-rule", lambda sb: ["bench", "ablate", sb.table("a.jsonl"), sb.table("b.jsonl"),
                                                      "--seeds", "1", "--jobs", "1", "--switch", "front_promotion"],
        r"--switch 'front_promotion': acts in Pareto mode only, and ablate replays constraint mode"),
    cli("ablate-switch-group-with-pareto-only-rule", lambda sb: [
        "bench", "ablate", sb.table("a.jsonl"), sb.table("b.jsonl"), "--seeds", "1", "--jobs", "1", "--switch",
        "forecast+front_extenders"], r"--switch 'forecast\+front_extenders': front_extenders acts in Pareto mode"),
    # accepted and ignored by a plug-in tuner, while the table's header recorded it
    cli("bench-build-compile-top-k-with-another-tuner", [
        "bench", "build", "--out", "t.jsonl", "--candidates", "2", "--max-steps", "8", "--max-trials", "3",
        "--trainer", "sonar.search.synthetic:SyntheticTrainer", "--tuner", "sonar.search.synthetic:SyntheticTuner",
        "--compile-top-k", "2"], r"--compile-top-k 2: only the built-in tuner sonar\.systems\.tuner:SystemTuner"
                                 r" reads it"),
    # a user's own index.html was taken for an earlier report and replaced
    cli("report-out-holds-a-users-index-html", _site_with_own_page,
        r"site: is not empty and holds no report"),
    # ray.init retried an address nothing listens on for minutes, without a word
    cli("search-ray-address-nothing-listens", lambda sb: _search(sb, "--executor", "ray", "--address",
                                                                 f"127.0.0.1:{_closed_port()}"),
        r"--address '127\.0\.0\.1:\d+': no Ray cluster answers there"),
]


def _closed_port() -> int:
    """A local port nothing listens on: one the system just handed out and took back."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


RAY_CASES = [  # Ray's own check of the address; without ray installed the executor is refused before it
    # "ValueError: Invalid address format: not an address", a traceback from ray.init
    cli("search-ray-address-malformed", lambda sb: _search(sb, "--executor", "ray", "--address", "not an address"),
        r"--address 'not an address': Ray refused it \(Invalid address format: not an address\)"),
    cli("search-spec-ray-address-malformed", lambda sb: _search(sb, changes={"executor": {
        "kind": "ray", "address": "not an address", "workers": 1}}),
        r"executor\.address 'not an address': Ray refused it"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)


@pytest.mark.parametrize("case", list(params(RAY_CASES)))
def test_bad_ray_address(case, sandbox):
    pytest.importorskip("ray")
    check_case(case, sandbox)


def test_a_report_is_written_again_over_the_one_before(sandbox):
    # an earlier report's own files are still replaced without --overwrite
    run = sandbox.run()
    for _ in range(2):
        result = CliRunner().invoke(app, ["report", run, "--out", "site"])
        assert result.exit_code == 0, result.output
    assert (sandbox.root / "site" / "index.html").read_text().startswith("<!doctype html>")
