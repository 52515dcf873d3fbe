"""One writer per run: an exclusive OS file lock on `DIR/engine.lock`, held for the engine's life.

The kernel releases a `flock` when its holder dies, however it dies, so a lock left by a killed
engine is simply free: no stale-lock guessing. The holder writes its pid into the file, only for the
message a second engine prints. Readers (`sonar status`) probe with a shared lock and never write.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from sonar.errors import UserError

LOCK_NAME = "engine.lock"
# A reader's probe holds a shared lock for microseconds; an engine retries this long before taking a
# held lock for a live engine (the winner of a race holds it for the whole run, so losers still fail
# at once, and a probe over a killed engine's leftover pid is never mistaken for that engine).
_PROBE_GRACE_S = 0.2


class EngineLock:
    """Held from `acquire` until `release` (or the process's death)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, run_dir: str | Path) -> EngineLock:
        path = Path(run_dir) / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise UserError(f"{path}: cannot open the engine lock ({err.strerror}); "
                            "a read-only run can be read (`sonar status`) but not driven") from err
        deadline = time.monotonic() + _PROBE_GRACE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() > deadline:
                    holder = _live_holder(fd)
                    os.close(fd)
                    raise UserError(f"{run_dir}: another engine (pid {holder or 'unknown'}) "
                                    "is driving this search") from None
                time.sleep(0.005)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {os.uname().nodename}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd < 0:
            return
        os.ftruncate(self._fd, 0)  # the pid names a live holder only
        os.close(self._fd)  # closing the last descriptor releases the flock
        self._fd = -1

    def __enter__(self) -> EngineLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def engine_holder(run_dir: str | Path) -> int | None:
    """The pid of the engine driving this run, or None. Opens the lock read-only and writes nothing,
    so it works on an archived (read-only) run."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # no engine ever ran here (or the run predates the lock)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            return _read_holder(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(fd: int) -> int | None:
    """The pid in the lock file: None while the new holder has not written it yet."""
    text = os.pread(fd, 128, 0).decode(errors="replace").split()
    return int(text[0]) if text and text[0].isdigit() else None


def _live_holder(fd: int, wait_s: float = 2.0) -> int | None:
    """The holder's pid, waiting briefly for it: a new holder writes its pid just after taking the
    lock, and until then the file is empty or still names a killed engine."""
    deadline = time.monotonic() + wait_s
    while True:
        pid = _read_holder(fd)
        if pid is not None and _alive(pid) or time.monotonic() > deadline:
            return pid
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
