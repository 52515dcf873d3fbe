"""`sonar export` and `sonar search --out` through the real entry point: a refused target exits 2 with
one error line and changes nothing; --overwrite replaces only sonar's own files."""

import errno
import os
import shutil
import sys

import pytest
import yaml
from search_support import make_spec
from typer.testing import CliRunner

from sonar.cli import app, main
from sonar.outdir import MARKER, read_marker
from sonar.search.export import export_best
from tree_snapshot import snapshot


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """root/run: a finished search; root/here: the current directory of each test, with a user file."""
    root = tmp_path_factory.mktemp("export")
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump(make_spec(executor={"kind": "inprocess", "workers": 1},
                                             budget={"candidates": 3, "max_steps": 30, "max_trials": 3})))
    result = CliRunner().invoke(app, ["search", str(spec), "--out", str(root / "run"), "--no-live"])
    assert result.exit_code == 0, result.output
    (root / "here").mkdir()
    (root / "here" / "notes.txt").write_text("mine")
    (root / "sibling.txt").write_text("also mine")
    return root


@pytest.fixture
def root(workspace, monkeypatch):
    monkeypatch.chdir(workspace / "here")
    yield workspace
    for leftover in ("export", "foreign", "out.txt"):  # what a test may create; the rest is shared
        path = workspace / leftover
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def sonar(monkeypatch, capsys, *args) -> tuple[int, list[str]]:
    """Exit code and stderr lines of `sonar ARGS` as the installed command runs it."""
    monkeypatch.setattr(sys, "argv", ["sonar", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err.strip().splitlines()


def assert_refused(code, errors, message):
    assert code == 2
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors


@pytest.mark.parametrize("to, message", [
    ("..", "refusing to write into the current directory or one of its parents"),
    (".", "refusing to write into the current directory or one of its parents"),
    ("/", "refusing to write into the filesystem root"),
    ("../run", "is the run directory being exported"),
    ("../here/../run/", "is the run directory being exported"),
])
def test_export_refuses_special_targets_and_changes_nothing(root, monkeypatch, capsys, to, message):
    before = snapshot(root)
    assert_refused(*sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", to, "--overwrite"), message)
    assert snapshot(root) == before


def test_export_refuses_a_link_to_the_run_directory(root, monkeypatch, capsys):
    (root / "here" / "link").symlink_to(root / "run")
    try:
        before = snapshot(root)
        assert_refused(*sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", "link"),
                       "is the run directory")
        assert snapshot(root) == before
    finally:
        (root / "here" / "link").unlink()


def test_export_refuses_a_foreign_directory_and_keeps_it_intact(root, monkeypatch, capsys):
    (root / "foreign").mkdir()
    (root / "foreign" / "data.csv").write_text("a,b\n1,2\n")
    before = snapshot(root)
    assert_refused(*sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", root / "foreign"),
                   "sonar did not write (e.g. data.csv)")
    assert snapshot(root) == before


def test_export_refuses_a_file(root, monkeypatch, capsys):
    (root / "out.txt").write_text("mine")
    before = snapshot(root)
    assert_refused(*sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", root / "out.txt"),
                   "exists and is not a directory")
    assert snapshot(root) == before


def test_export_overwrite_writes_beside_foreign_files(root, monkeypatch, capsys):
    (root / "foreign").mkdir()
    (root / "foreign" / "data.csv").write_text("a,b\n1,2\n")
    before = snapshot(root)
    code, _ = sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", root / "foreign", "--overwrite")
    assert code == 0
    after = snapshot(root)
    assert {k: after.get(k) for k in before} == before  # everything there before is there, unchanged
    added = {k for k in after if k not in before}
    listed = {f"foreign/{name}" for name in read_marker(root / "foreign")}
    assert added == listed | {f"foreign/{MARKER}", "foreign/model"}


def test_reexport_replaces_its_own_files_and_with_overwrite_keeps_a_file_added_since(root, monkeypatch, capsys):
    export = root / "export"
    assert sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", export)[0] == 0
    first = snapshot(root)
    assert sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", export)[0] == 0  # sonar's own: no flag
    assert snapshot(root) == first  # same winner, same bytes, and nothing left beside it
    (export / "model" / "README.md").write_text("my notes")
    assert_refused(*sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", export), "README.md")
    assert sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", export, "--overwrite")[0] == 0
    assert (export / "model" / "README.md").read_text() == "my notes"
    assert snapshot(root).keys() == first.keys() | {"export/model/README.md"}


def test_the_demo_rerun_exports_over_its_own_winner(root):
    """`sonar demo` exports into its run directory on every rerun (with overwrite=True)."""
    for _ in range(2):
        export_best(root / "run", root / "run" / "winner", overwrite=True)
    assert (root / "run" / "winner" / "model" / "config.json").is_file()
    assert not [p for p in (root / "run").iterdir() if p.name.startswith(".winner")]


def test_disk_full_during_export_is_one_error_and_leaves_nothing(root, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("sonar.checkpoint.io.save_file", full)  # the synthetic run has no trained checkpoint
    before = snapshot(root)
    assert_refused(*sonar(monkeypatch, capsys, "export", root / "run", "--best", "--to", root / "export"),
                   f"{root / 'export' / 'model'}: cannot write (No space left on device)")
    assert snapshot(root) == before


def test_search_out_refuses_its_own_spec_file(root, monkeypatch, capsys):
    spec = root / "spec.yaml"
    before = snapshot(root)
    assert_refused(*sonar(monkeypatch, capsys, "search", spec, "--out", spec, "--no-live"),
                   "spec.yaml: is a file; name a directory for the sonar search")
    assert snapshot(root) == before


def test_search_out_refuses_a_non_empty_directory_that_is_not_a_run(root, monkeypatch, capsys):
    before = snapshot(root)
    assert_refused(*sonar(monkeypatch, capsys, "search", root / "spec.yaml", "--out", ".", "--no-live"),
                   "refusing to write into the current directory")
    (root / "foreign").mkdir()
    (root / "foreign" / "data.csv").write_text("1")
    assert_refused(*sonar(monkeypatch, capsys, "search", root / "spec.yaml", "--out", root / "foreign", "--no-live"),
                   "foreign: is not empty and holds no sonar search")
    assert snapshot(root) == before | {"foreign": "dir", "foreign/data.csv": snapshot(root)["foreign/data.csv"]}


def test_search_out_on_an_existing_run_points_to_resume(root, monkeypatch, capsys):
    assert_refused(*sonar(monkeypatch, capsys, "search", root / "spec.yaml", "--out", root / "run", "--no-live"),
                   "already holds a search; use `sonar search --resume")
