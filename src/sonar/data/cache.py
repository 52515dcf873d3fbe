"""Where cached artifacts live, and how they are written so that a crash leaves nothing half-written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sonar.outdir import staging_beside, write_failed

CACHE_ENV = "SONAR_CACHE"


def cache_root(override: str | Path | None = None) -> Path:
    """The explicit argument, else $SONAR_CACHE, else ~/.cache/sonar."""
    if override is not None:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path.home() / ".cache" / "sonar"


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside `target`; rename it onto `target` only if the block
    succeeds. On any error the staging directory is removed and `target` is untouched; an OS error
    (disk full, read-only) is a UserError naming `target`."""
    with staging_beside(target) as staging:
        yield staging
        try:
            os.replace(staging, target)
        except OSError:
            if not target.exists():
                raise
            # Another process finished the same entry first; theirs is equivalent.


def write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise write_failed(path, err) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as err:
        raise write_failed(path, err) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
