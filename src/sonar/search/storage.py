"""Append-only event storage in SQLite (WAL): the spec, every job, result and decision.

Each append is its own committed transaction, so a `kill -9` loses at most the event being written;
the state is always the fold of what was committed. Candidate workdirs (checkpoints, tuning records)
live beside the database under `DIR/candidates/`.

Only the engine writes (`writable=True`, under the run's EngineLock). Every other open is read-only
and leaves the directory as it found it: no tables, no journal-mode switch, no -wal/-shm files where
there were none, so an archived (read-only) run reads too. Anything that is not a database sonar
wrote is one UserError naming the file.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from sonar import strict_json
from sonar.errors import UserError
from sonar.search.run_lock import EngineLock
from sonar.search.spec_record import ACCEPTED, accepted_record
from sonar.search.state import RecordError, SearchState, state_from_events

DB_NAME = "search.db"
_COLUMNS = ["seq", "time", "kind", "payload"]
_SCHEMA = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
"""


def _encode(value):
    """JSON without NaN/Infinity tokens: non-finite floats become strings, read back as floats."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value):
    if isinstance(value, dict):
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class Storage:
    """An existing run's events: read-only unless `writable` (the engine, holding the run's lock)."""

    def __init__(self, run_dir: str | Path, *, writable: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        self.writable = writable
        try:
            found = self.path.is_file()
        except OSError as err:
            raise UserError(f"{self.path}: cannot be read ({err.strerror})") from err
        if not found:
            raise UserError(f"{self.run_dir}: not a search directory (no {DB_NAME})")
        self._snapshot: tempfile.TemporaryDirectory | None = None
        self._immutable = False  # reading the main file alone (no -wal beside it)
        self.db: sqlite3.Connection | None = None
        try:
            self.db = self._connect()
            self._check_schema()
            if writable:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as err:
            self.close()
            raise self._unreadable(err) from err
        except UserError:
            self.close()
            raise

    @classmethod
    def create(cls, run_dir: str | Path, spec_raw: dict) -> Storage:
        """A new run: the schema, the spec and its hash in one transaction, under the run's lock (two
        creators racing on one directory: one creates, the other is refused)."""
        run_dir = Path(run_dir)
        taken = UserError(f"{run_dir}: already holds a search; use `sonar search --resume {run_dir}`")
        if (run_dir / DB_NAME).exists():
            raise taken
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # /proc/x, a path under a file: one line naming it, not mkdir's traceback
            raise UserError(f"{run_dir}: cannot create the run directory ({err.strerror or err})") from None
        with EngineLock.acquire(run_dir):
            if (run_dir / DB_NAME).exists():  # created while we waited for the lock
                raise taken
            db = sqlite3.connect(run_dir / DB_NAME, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("BEGIN IMMEDIATE")
                db.execute(_SCHEMA)
                stamp = time.time()
                for kind, payload in (("spec", {"spec": spec_raw}), (ACCEPTED, accepted_record(spec_raw))):
                    db.execute("INSERT INTO events (time, kind, payload) VALUES (?, ?, ?)",
                               (stamp, kind, _dumps(payload)))
                db.execute("COMMIT")
            finally:
                db.close()
        return cls(run_dir, writable=True)

    def _connect(self) -> sqlite3.Connection:
        uri = "file:" + quote(str(self.path.resolve()))
        if self.writable:
            return sqlite3.connect(uri + "?mode=rw", uri=True, timeout=30, isolation_level=None)
        wal, shm = (self.path.with_name(self.path.name + suffix) for suffix in ("-wal", "-shm"))
        self._immutable = not wal.exists()
        if self._immutable:
            # Every committed event is in the main file: read it as it is, creating nothing beside it.
            return sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, timeout=30)
        if os.access(self.run_dir, os.W_OK) or shm.exists():
            return sqlite3.connect(uri + "?mode=ro", uri=True, timeout=30)
        # A read-only directory holding a -wal but no -shm (an engine killed, then archived): SQLite
        # cannot read the log in place, so read a private copy.
        self._snapshot = tempfile.TemporaryDirectory(prefix="sonar-run-")
        copy = Path(self._snapshot.name) / DB_NAME
        for source in (self.path, wal):
            shutil.copyfile(source, copy.with_name(source.name))
        return sqlite3.connect("file:" + quote(str(copy)) + "?mode=ro", uri=True, timeout=30)

    def _check_schema(self) -> None:
        columns = [row[1] for row in self.db.execute("PRAGMA table_info(events)")]
        if columns != _COLUMNS:
            raise UserError(f"{self.path}: not a sonar search database (it has no events table of "
                            f"{', '.join(_COLUMNS)})")

    def _unreadable(self, err: Exception) -> UserError:
        return UserError(f"{self.path}: not a readable sonar search database ({err})")

    def append(self, kind: str, payload: dict, *, at: float | None = None) -> float:
        if not self.writable:
            raise RuntimeError(f"{self.path} was opened read-only")
        stamp = time.time() if at is None else at
        self.db.execute("INSERT INTO events (time, kind, payload) VALUES (?, ?, ?)", (stamp, kind, _dumps(payload)))
        return stamp

    def events(self) -> list[tuple[str, dict, float]]:
        try:
            rows = self.db.execute("SELECT seq, kind, payload, time FROM events ORDER BY seq").fetchall()
        except sqlite3.DatabaseError as err:
            raise self._unreadable(err) from err
        if self._immutable and self.path.with_name(self.path.name + "-wal").exists():
            # an engine started while we read the main file alone: read again through its log
            self.db.close()
            self.db = self._connect()
            return self.events()
        if not rows:
            raise UserError(f"{self.path}: holds no events (a search records its spec first)")
        return [self._decoded(*row) for row in rows]

    def _decoded(self, seq, kind, payload, stamp) -> tuple[str, dict, float]:
        try:
            value = _decode(strict_json.loads(payload))
        except (TypeError, ValueError) as err:
            raise UserError(f"{self.path}: event {seq} ({kind}) is not valid JSON: {err}") from err
        if not isinstance(kind, str) or not isinstance(value, dict) or not isinstance(stamp, int | float):
            raise UserError(f"{self.path}: event {seq} is not a sonar event (kind {kind!r}, time {stamp!r}, "
                            f"payload {type(value).__name__})")
        return kind, value, float(stamp)

    def state(self, events: list[tuple[str, dict, float]] | None = None) -> SearchState:
        """The fold of the events (read now, or those given, already read)."""
        try:
            return state_from_events(self.events() if events is None else events)
        except RecordError as err:
            raise UserError(f"{self.path}: {err}") from err

    def candidate_dir(self, candidate_id: str) -> Path:
        return self.run_dir / "candidates" / candidate_id

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        if self._snapshot is not None:
            self._snapshot.cleanup()
            self._snapshot = None


def _dumps(payload: dict) -> str:
    return json.dumps(_encode(payload), sort_keys=True)
