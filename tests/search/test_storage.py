import functools
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from search_support import file_tree, make_spec, run_simulated

from sonar.errors import UserError
from sonar.search.storage import DB_NAME, Storage

SRC = str(Path(__file__).parents[2] / "src")


def test_state_rebuilt_from_events_equals_the_live_state(tmp_path):
    live, _ = run_simulated(make_spec(), tmp_path)
    storage = Storage(tmp_path)
    rebuilt = storage.state()
    storage.close()
    assert rebuilt.decisions == live.decisions
    assert rebuilt.spent_s == live.spent_s
    assert {c.id: (c.status, c.rung, c.curve, c.tuning) for c in rebuilt.candidates.values()} == \
           {c.id: (c.status, c.rung, c.curve, c.tuning) for c in live.candidates.values()}
    assert {j: r.status for j, r in rebuilt.jobs.items()} == {j: r.status for j, r in live.jobs.items()}
    assert rebuilt.finished


def test_non_finite_floats_survive_storage(tmp_path):
    storage = Storage.create(tmp_path, make_spec())
    storage.append("run_started", {"x": math.inf, "y": [-math.inf, math.nan, 1.5]})
    _, payload, _ = storage.events()[-1]
    storage.close()
    assert payload["x"] == math.inf and payload["y"][0] == -math.inf and math.isnan(payload["y"][1])


def test_create_refuses_an_existing_search_and_open_refuses_a_missing_one(tmp_path):
    Storage.create(tmp_path / "run", make_spec()).close()
    with pytest.raises(UserError, match="--resume"):
        Storage.create(tmp_path / "run", make_spec())
    with pytest.raises(UserError, match="not a search directory"):
        Storage(tmp_path / "nothing")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished")
    run_simulated(make_spec(budget={"candidates": 6}), run_dir)
    return run_dir


def test_a_read_changes_no_file_and_opens_read_only(finished, monkeypatch):
    uris = []
    real_connect = sqlite3.connect

    def spy(target, *args, **kwargs):
        uris.append(str(target))
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", spy)
    before = file_tree(finished)
    storage = Storage(finished)
    state = storage.state()
    storage.close()
    assert state.finished
    assert file_tree(finished) == before
    assert uris and all("mode=ro" in uri for uri in uris)


def test_a_read_sees_what_is_still_in_the_log(tmp_path):
    """An engine that died left its last events in search.db-wal: a read must see them."""
    storage = Storage.create(tmp_path, make_spec())
    storage.db.execute("PRAGMA wal_autocheckpoint=0")  # keep every append in the log, as a live engine does
    storage.append("run_started", {"backend": "synthetic"})
    assert (tmp_path / f"{DB_NAME}-wal").exists()
    reader = Storage(tmp_path)
    kinds = [kind for kind, _, _ in reader.events()]
    reader.close()
    storage.close()
    assert kinds[-1] == "run_started"


def test_a_read_only_directory_reads(finished, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through any permission")
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / DB_NAME).write_bytes((finished / DB_NAME).read_bytes())
    (archive / DB_NAME).chmod(0o444)
    archive.chmod(0o555)
    try:
        storage = Storage(archive)
        assert storage.state().finished
        storage.close()
        assert sorted(p.name for p in archive.iterdir()) == [DB_NAME]
    finally:
        archive.chmod(0o755)


def _foreign(path):
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE things (a, b)")


def _truncated(path, source):
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 3])


CORRUPT = {
    "empty file": lambda path, source: path.write_bytes(b""),
    "random bytes": lambda path, source: path.write_bytes(os.urandom(8192)),
    "truncated": _truncated,
    "foreign sqlite": lambda path, source: _foreign(path),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_corrupt_database_is_one_error_naming_the_file(finished, tmp_path, case):
    CORRUPT[case](tmp_path / DB_NAME, finished / DB_NAME)
    before = file_tree(tmp_path)
    with pytest.raises(UserError, match=str(tmp_path / DB_NAME)):
        storage = Storage(tmp_path)
        try:
            storage.state()
        finally:
            storage.close()
    assert file_tree(tmp_path) == before  # no tables made, no journal switched


def test_a_foreign_database_refuses_a_writer_too_and_stays_untouched(tmp_path):
    _foreign(tmp_path / DB_NAME)
    with pytest.raises(UserError, match="not a sonar search database"):
        Storage(tmp_path, writable=True)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["things"]


@pytest.mark.parametrize(("payload", "message"), [("{not json", "event 3 .* not valid JSON"),
                                                  ("[1, 2]", "event 3 is not a sonar event"),
                                                  ('{"job_id": "c999/r0/train"}', "event 3 .* cannot be read")])
def test_a_bad_row_is_one_error_naming_the_file_and_the_event(tmp_path, payload, message):
    Storage.create(tmp_path, make_spec()).close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("INSERT INTO events (time, kind, payload) VALUES (0, 'job_done', ?)", (payload,))
    storage = Storage(tmp_path)
    with pytest.raises(UserError, match=f"{tmp_path / DB_NAME}: {message}"):
        storage.state()
    storage.close()


def test_a_stored_spec_that_no_longer_parses_names_the_file(tmp_path):
    Storage.create(tmp_path, make_spec()).close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("UPDATE events SET payload = ? WHERE seq = 1", (json.dumps({"spec": {"eta": "x"}}),))
    storage = Storage(tmp_path)
    with pytest.raises(UserError, match=f"{tmp_path / DB_NAME}: event 1 \\(spec\\)"):
        storage.state()
    storage.close()


def test_a_read_only_storage_refuses_to_append(finished):
    storage = Storage(finished)
    with pytest.raises(RuntimeError, match="read-only"):
        storage.append("run_started", {})
    storage.close()


@pytest.fixture
def open_tmp():
    """A directory any user can reach (pytest's own tmp root is private to its owner)."""
    root = Path(tempfile.mkdtemp(prefix="sonar-archive-"))
    root.chmod(0o755)
    yield root
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(root)


def _archive(root, files: dict[str, bytes]):
    """A run directory as an archive holds it: files and directory read-only, reachable by anyone."""
    archive = root / "archive"
    archive.mkdir()
    for name, data in files.items():
        (archive / name).write_bytes(data)
        (archive / name).chmod(0o444)
    archive.chmod(0o555)
    return archive


def _killed_engine_files(run_dir) -> dict[str, bytes]:
    """search.db and its -wal (and -shm) as an engine killed mid-run leaves them: the last events in the log."""
    storage = Storage.create(run_dir, make_spec())
    storage.db.execute("PRAGMA wal_autocheckpoint=0")
    storage.append("run_started", {"backend": "synthetic"})
    files = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name.startswith(DB_NAME)}
    storage.close()
    return files


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@functools.lru_cache(maxsize=1)
def _nobody_runs_sonar() -> bool:
    """Whether the user nobody can import sonar from this checkout: a clone in a private (0700)
    directory, such as one `mktemp -d` made, is closed to it whatever the test does."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run([*NOBODY, sys.executable, "-c", "import sonar"], capture_output=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": SRC})
    return probe.returncode == 0


def _as_nobody(args: list[str], env: dict) -> subprocess.CompletedProcess:
    if not _nobody_runs_sonar():
        pytest.skip("needs root to become nobody, and a checkout nobody can read")
    return subprocess.run([*NOBODY, sys.executable, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": SRC, **env})


@pytest.mark.parametrize("left", ["clean", "wal and shm", "wal only"])
def test_an_archived_run_reads_for_a_user_who_cannot_write_it(finished, tmp_path, open_tmp, left):
    if left == "clean":
        files, events = {DB_NAME: (finished / DB_NAME).read_bytes()}, None
    else:
        files = _killed_engine_files(tmp_path / "killed")
        if left == "wal only":
            files.pop(f"{DB_NAME}-shm")
        events = 3
    archive = _archive(open_tmp, files)
    before = file_tree(archive)
    code = ("import sys\nfrom sonar.search.storage import Storage\ns = Storage(sys.argv[1])\n"
            "print(len(s.events()), s.state().finished)\ns.close()\n")
    result = _as_nobody(["-c", code, str(archive)], {"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    count, finished_flag = result.stdout.split()
    assert finished_flag == ("True" if left == "clean" else "False")
    if events is not None:
        assert int(count) == events  # the events still in the log were read
    assert file_tree(archive) == before and sorted(p.name for p in archive.iterdir()) == sorted(files)


def test_the_cli_reads_an_archived_run_and_reports_elsewhere(finished, open_tmp):
    archive = _archive(open_tmp, {DB_NAME: (finished / DB_NAME).read_bytes()})
    home = open_tmp / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)

    def sonar(*args):
        return _as_nobody(["-m", "sonar", *args], {"HOME": str(home), "MPLCONFIGDIR": str(home)})

    status = sonar("status", str(archive), "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["state"] == "finished", status.stderr
    refused = sonar("report", str(archive))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--out" in refused.stderr
    elsewhere = sonar("report", str(archive), "--out", str(home / "report"))
    assert elsewhere.returncode == 0 and (home / "report" / "index.html").is_file(), elsewhere.stderr
    assert sorted(p.name for p in archive.iterdir()) == [DB_NAME]
