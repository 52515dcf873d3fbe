"""The cache's staged writes: a failed write is one error naming the entry and leaves no staging copy."""

import errno
import os

import pytest

from sonar.data.cache import staged_dir, write_atomic
from sonar.errors import UserError


def test_a_staged_entry_appears_whole(tmp_path):
    with staged_dir(tmp_path / "entry") as staging:
        (staging / "a.bin").write_bytes(b"1")
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]
    assert (tmp_path / "entry" / "a.bin").read_bytes() == b"1"


def test_disk_full_while_staging_leaves_nothing(tmp_path):
    with pytest.raises(UserError, match=r"entry: cannot write \(No space left on device\)"):
        with staged_dir(tmp_path / "entry") as staging:
            (staging / "a.bin").write_bytes(b"1")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_cache_is_one_error(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):  # simulated: chmod does not stop root
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    with pytest.raises(UserError, match=r"value.json: cannot write \(Permission denied\)"):
        write_atomic(tmp_path / "value.json", b"{}")
    monkeypatch.setattr("tempfile.mkdtemp", read_only)
    with pytest.raises(UserError, match=r"entry: cannot write \(Permission denied\)"):
        with staged_dir(tmp_path / "entry"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_disk_full_in_write_atomic_leaves_no_temp_file(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("os.replace", full)
    with pytest.raises(UserError, match=r"value.json: cannot write \(No space left on device\)"):
        write_atomic(tmp_path / "value.json", b"{}")
    assert list(tmp_path.iterdir()) == []
