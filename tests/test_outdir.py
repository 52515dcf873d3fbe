"""sonar.outdir: what an output directory may be, and that writing one never loses a file sonar did not write."""

import errno
import json
import os
from pathlib import Path

import pytest

from sonar.errors import UserError
from sonar.outdir import MARKER, check_run_dir, read_marker, writing
from tree_snapshot import snapshot


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """The process runs in tmp_path/work/here, so `.`, `..` and their ancestors are inside tmp_path."""
    here = tmp_path / "work" / "here"
    here.mkdir(parents=True)
    (here / "notes.txt").write_text("mine")
    (tmp_path / "work" / "other.txt").write_text("mine too")
    monkeypatch.chdir(here)
    return here


def write(target, files: dict[str, str], **options) -> None:
    with writing(target, **options) as staging:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text)


def test_a_new_directory_gets_the_files_and_a_marker_listing_them(tmp_path):
    write(tmp_path / "out", {"a.txt": "1", "sub/b.txt": "2"})
    assert sorted(read_marker(tmp_path / "out")) == ["a.txt", "sub/b.txt"]
    assert (tmp_path / "out" / "sub" / "b.txt").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging copy left beside it


def test_an_empty_existing_directory_is_written(tmp_path):
    (tmp_path / "out").mkdir()
    write(tmp_path / "out", {"a.txt": "1"})
    assert (tmp_path / "out" / "a.txt").read_text() == "1"


def test_sonars_own_directory_is_replaced_without_a_flag(tmp_path):
    write(tmp_path / "out", {"a.txt": "1", "old/stale.txt": "x"})
    write(tmp_path / "out", {"a.txt": "2"})
    assert snapshot(tmp_path / "out").keys() == {"a.txt", MARKER}
    assert (tmp_path / "out" / "a.txt").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_foreign_directory_is_refused_and_left_intact(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("years of work")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match=r"out: not empty and holds 1 file\(s\) sonar did not write .*thesis.tex"):
        write(tmp_path / "out", {"a.txt": "1"})
    assert snapshot(tmp_path) == before


def test_a_file_added_to_sonars_directory_makes_it_foreign(tmp_path):
    write(tmp_path / "out", {"a.txt": "1"})
    (tmp_path / "out" / "mine.txt").write_text("keep")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="mine.txt"):
        write(tmp_path / "out", {"a.txt": "2"})
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_only_sonars_files_and_keeps_the_rest(tmp_path):
    write(tmp_path / "out", {"a.txt": "1", "sub/stale.txt": "x"})
    (tmp_path / "out" / "mine.txt").write_text("keep")
    (tmp_path / "out" / "sub" / "mine too.txt").write_text("keep")
    write(tmp_path / "out", {"a.txt": "2", "b.txt": "3"}, overwrite=True)
    assert snapshot(tmp_path / "out").keys() == {"a.txt", "b.txt", "mine.txt", "sub", "sub/mine too.txt", MARKER}
    assert (tmp_path / "out" / "a.txt").read_text() == "2"
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"
    assert sorted(read_marker(tmp_path / "out")) == ["a.txt", "b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_overwrite_never_replaces_a_foreign_file_of_the_same_name(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "config.json").write_text("theirs")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="config.json: sonar did not write it"):
        write(tmp_path / "out", {"config.json": "ours"}, overwrite=True)
    assert snapshot(tmp_path) == before


def test_a_linked_folder_inside_the_target_is_never_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x").write_text("theirs")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(elsewhere)
    (tmp_path / "out" / MARKER).write_text(json.dumps({"files": ["sub/x"]}))  # a marker claiming their file
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="sub: sonar did not write it"):
        write(tmp_path / "out", {"sub/x": "ours"}, overwrite=True)
    assert snapshot(tmp_path) == before
    write(tmp_path / "out", {"y": "ours"}, overwrite=True)  # the marker's claim deletes nothing through the link
    assert (elsewhere / "x").read_text() == "theirs"
    assert (tmp_path / "out" / "sub").is_symlink()


@pytest.mark.parametrize("listed", [["../victim.txt"], ["/etc/passwd"], ["a/../../victim.txt"], "all"])
def test_a_marker_naming_anything_outside_is_refused(tmp_path, listed):
    (tmp_path / "victim.txt").write_text("keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / MARKER).write_text(json.dumps({"files": listed}))
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match=f"{MARKER}: not a valid sonar output marker"):
        write(tmp_path / "out", {"a.txt": "1"}, overwrite=True)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", [".", "..", "../..", "/", "~", "link-to-work", "protected"])
def test_special_directories_are_refused(cwd, tmp_path, monkeypatch, name):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a home directory apart from the current one
    (tmp_path / "home").mkdir()
    (cwd / "link-to-work").symlink_to(tmp_path / "work")
    (tmp_path / "run").mkdir()
    target = {"~": tmp_path / "home", "protected": cwd / ".." / ".." / "run"}.get(name, Path(name))
    expected = {"/": "filesystem root", "~": "home directory", "protected": "is the run directory"}
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match=expected.get(name, "current directory or one of its parents")):
        write(target, {"a.txt": "1"}, overwrite=True, protected={tmp_path / "run": "the run directory"})
    assert snapshot(tmp_path) == before


def test_a_file_is_not_a_target(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(UserError, match="out: exists and is not a directory"):
        write(tmp_path / "out", {"a.txt": "1"})
    assert (tmp_path / "out").read_text() == "a file"


def test_disk_full_while_writing_leaves_the_old_output_and_no_staging_copy(tmp_path):
    write(tmp_path / "out", {"a.txt": "1"})
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match=r"out: cannot write \(No space left on device\)"):
        with writing(tmp_path / "out") as staging:
            (staging / "a.txt").write_text("2")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert snapshot(tmp_path) == before


def test_disk_full_while_publishing_leaves_no_staging_copy(tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    before = snapshot(tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("sonar.outdir.write_marker", full)
    with pytest.raises(UserError, match=r"out: cannot write \(No space left on device\)"):
        write(tmp_path / "out", {"a.txt": "1"}, overwrite=True)
    assert snapshot(tmp_path) == before


def test_a_read_only_parent_is_one_error_naming_the_path(tmp_path, monkeypatch):
    # chmod means nothing to root, so the refusal the OS would give is simulated where it happens.
    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path))

    monkeypatch.setattr("sonar.outdir.tempfile.mkdtemp", read_only)
    with pytest.raises(UserError, match=rf"out: cannot write \(Permission denied at {tmp_path}\)"):
        write(tmp_path / "out", {"a.txt": "1"})
    assert list(tmp_path.iterdir()) == []


def holds_run(directory: Path) -> bool:
    return (directory / "run.db").exists()


def test_run_directories_are_new_empty_or_already_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.db").write_text("")
    for name in ("new", "empty", "run"):
        assert check_run_dir(tmp_path / name, holds_run=holds_run, kind="test run") == tmp_path / name
    (tmp_path / "spec.yaml").write_text("name: x")
    with pytest.raises(UserError, match="spec.yaml: is a file; name a directory for the test run"):
        check_run_dir(tmp_path / "spec.yaml", holds_run=holds_run, kind="test run")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_text("")
    with pytest.raises(UserError, match="photos: is not empty and holds no test run"):
        check_run_dir(tmp_path / "photos", holds_run=holds_run, kind="test run")


def test_a_run_directory_is_never_the_current_one(cwd):
    with pytest.raises(UserError, match="refusing to write into the current directory"):
        check_run_dir(Path("."), holds_run=holds_run, kind="test run")


def test_deleting_sonars_files_never_follows_a_folder_swapped_for_a_link(tmp_path):
    """The survey lists only real files, but a folder may be swapped for a link before the delete."""
    from sonar.outdir import _remove_listed

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x").write_text("theirs")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(elsewhere)
    _remove_listed(tmp_path / "out", {"sub/x"})
    assert (elsewhere / "x").read_text() == "theirs"


def test_another_kind_of_output_never_replaces_a_checkpoint_whatever_overwrite_says(tmp_path):
    with writing(tmp_path / "ckpt", kind="checkpoint") as staging:
        (staging / "config.json").write_text("{}")
        (staging / "model.safetensors").write_text("weights")
    for kind in ("eval-length", "export"):
        with pytest.raises(UserError, match="holds a sonar checkpoint"):
            with writing(tmp_path / "ckpt", kind=kind, overwrite=True) as staging:
                (staging / "length.json").write_text("{}")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [MARKER, "config.json", "model.safetensors"]
    with writing(tmp_path / "ckpt", kind="checkpoint") as staging:  # the same kind replaces its own files
        (staging / "config.json").write_text('{"new": 1}')
    assert sorted(read_marker(tmp_path / "ckpt")) == ["config.json"]


def test_a_marker_written_before_kinds_were_recorded_is_judged_by_its_files(tmp_path):
    target = tmp_path / "old"
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / MARKER).write_text(json.dumps({"written_by": "sonar", "files": ["config.json"]}))
    with pytest.raises(UserError, match="holds a sonar checkpoint"):
        with writing(target, kind="eval-length", overwrite=True) as staging:
            (staging / "length.json").write_text("{}")
    assert (target / "config.json").read_text() == "{}"


def test_a_link_to_nowhere_is_refused_rather_than_followed_into_being(tmp_path):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "elsewhere" / "made")
    with pytest.raises(UserError, match="does not exist"):
        with writing(link) as staging:
            (staging / "a.txt").write_text("a")
    assert not (tmp_path / "elsewhere").exists()


def test_a_staging_copy_left_by_a_killed_writer_is_swept_by_the_next_write(tmp_path):
    # kill -9 skips the writer's own clean-up; its unlocked copy, a minute old, is removed by the next write,
    # while a live writer's copy (locked) and a fresh one (in the microseconds before its lock) are kept.
    import fcntl
    import time

    target = tmp_path / "out"
    stale, live, fresh = (tmp_path / f".out.staging-{name}" for name in ("dead1234", "live1234", "new12345"))
    for copy in (stale, live, fresh):
        copy.mkdir()
        (copy / "model.safetensors").write_bytes(b"half")
    old = time.time() - 3600
    for copy in (stale, live):
        os.utime(copy, (old, old))
    foreign = tmp_path / ".out.staging-notes.txt"  # a file of that form is no staging copy: never touched
    foreign.write_text("mine")
    held = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        with writing(target) as staging:
            (staging / "a.txt").write_text("a")
    finally:
        os.close(held)
    assert not stale.exists()
    assert live.is_dir() and fresh.is_dir() and foreign.read_text() == "mine"
    assert (target / "a.txt").read_text() == "a"


def test_an_empty_folder_of_the_users_stays_where_it_is_when_sonars_files_are_replaced(tmp_path):
    # Only sonar's files and an empty folder: the directory was swapped aside whole, and the folder ended up
    # in a hidden `.out.old-*` sibling rather than in `out`.
    write(tmp_path / "out", {"a.txt": "1", "sub/b.txt": "2"})
    (tmp_path / "out" / "drafts" / "later").mkdir(parents=True)
    write(tmp_path / "out", {"a.txt": "new"})
    assert (tmp_path / "out" / "drafts" / "later").is_dir()
    assert (tmp_path / "out" / "a.txt").read_text() == "new"
    assert not (tmp_path / "out" / "sub").exists()  # sonar's own folder goes with its file
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
