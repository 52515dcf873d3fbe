"""Append-only event storage in SQLite (WAL): the spec, every job, result and decision.

Each append is its own committed transaction, so a `kill -9` loses at most the event being written;
the state is always the fold of what was committed. Candidate workdirs (checkpoints, tuning records)
live beside the database under `DIR/candidates/`.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from pathlib import Path

from sonar.errors import UserError
from sonar.search.state import SearchState, state_from_events

DB_NAME = "search.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    time REAL NOT NULL
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
    def __init__(self, run_dir: str | Path, *, create: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        if not create and not self.path.is_file():
            raise UserError(f"{self.run_dir}: not a search directory (no {DB_NAME})")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    @classmethod
    def create(cls, run_dir: str | Path, spec_raw: dict) -> Storage:
        run_dir = Path(run_dir)
        if (run_dir / DB_NAME).exists():
            raise UserError(f"{run_dir}: already holds a search; use `sonar search --resume {run_dir}`")
        storage = cls(run_dir, create=True)
        storage.append("spec", {"spec": spec_raw})
        return storage

    def append(self, kind: str, payload: dict, *, at: float | None = None) -> float:
        stamp = time.time() if at is None else at
        self.db.execute("INSERT INTO events (time, kind, payload) VALUES (?, ?, ?)",
                        (stamp, kind, json.dumps(_encode(payload), sort_keys=True)))
        return stamp

    def events(self) -> list[tuple[str, dict, float]]:
        rows = self.db.execute("SELECT kind, payload, time FROM events ORDER BY seq").fetchall()
        return [(kind, _decode(json.loads(payload)), stamp) for kind, payload, stamp in rows]

    def state(self) -> SearchState:
        return state_from_events(self.events())

    def candidate_dir(self, candidate_id: str) -> Path:
        return self.run_dir / "candidates" / candidate_id

    # --- liveness: one engine at a time ---------------------------------------------------------------
    def beat(self) -> None:
        self.db.execute("INSERT OR REPLACE INTO heartbeat (id, pid, host, time) VALUES (0, ?, ?, ?)",
                        (os.getpid(), os.uname().nodename, time.time()))

    def clear_beat(self) -> None:
        self.db.execute("DELETE FROM heartbeat")

    def live_engine(self, *, stale_after_s: float = 60.0) -> tuple[int, float] | None:
        """(pid, age) of an engine still driving this search, or None when none is (or it died)."""
        row = self.db.execute("SELECT pid, host, time FROM heartbeat").fetchone()
        if row is None:
            return None
        pid, host, stamp = row
        age = time.time() - stamp
        if host == os.uname().nodename:  # the pid is the truth here; the age only across machines
            return (pid, age) if _pid_alive(pid) and pid != os.getpid() else None
        return (pid, age) if age < stale_after_s else None

    def close(self) -> None:
        self.db.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
