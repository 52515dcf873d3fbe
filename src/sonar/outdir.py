"""An output directory sonar may write, and how it writes one without ever losing a user's files.

A directory sonar fills carries a marker (MARKER) listing the files sonar put there. Writing:
- refuses `.`, `..`, `/`, the home directory, any ancestor of the current directory and any path the
  caller protects (the run being exported), after resolving symlinks;
- refuses a non-empty directory holding files sonar did not write, unless `overwrite=True`; even then
  those files stay, and a clash with one of them is refused;
- stages everything in a sibling temporary directory and renames it into place, so a failed write
  (disk full, read-only) leaves the target as it was, no staging copy behind, and one UserError that
  names the path and the OS reason;
- deletes only files the previous marker lists, inside the target, and only when the marker says the
  same kind of output wrote them: an evaluation report never replaces a checkpoint, nor an export a
  checkpoint, whatever `overwrite` says.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sonar import strict_json
from sonar.errors import UserError

MARKER = ".sonar-output.json"
# What a marker from before kinds were recorded most likely holds, judged by the files it lists.
_KIND_BY_FILE = (("system_config.json", "export"), ("config.json", "checkpoint"),
                 ("model.safetensors", "checkpoint"), ("model.safetensors.index.json", "checkpoint"),
                 ("length.json", "eval-length"))


def write_failed(path: str | Path, err: OSError) -> UserError:
    """The one-line error for an OS refusal while writing `path` (no space, no permission, ...)."""
    reason = os.strerror(err.errno) if err.errno else str(err)
    where = f" at {err.filename}" if err.filename and str(err.filename) != str(path) else ""
    return UserError(f"{path}: cannot write ({reason}{where})")


def refuse_control_characters(path: str | Path, flag: str = "") -> None:
    """An output path holding a newline, tab or other control character is a paste mistake far more often
    than a name: refused, before a directory named `runs\nx` appears and every message about it breaks."""
    text = str(path)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        where = f"{flag} " if flag else ""
        raise UserError(f"{where}{text!r}: holds a control character (a newline or tab, say); name a path"
                        " without one")


def refuse_special(path: str | Path, *, protected: Mapping[str | Path, str] | None = None) -> Path:
    """`path` resolved, unless it is a directory no output may replace; `protected` maps more such
    paths to what they are (e.g. {run_dir: "the run directory"})."""
    refuse_control_characters(path)
    if Path(path).is_symlink() and not Path(path).exists():  # writing would create wherever the link points
        raise UserError(f"{path}: is a link to {os.readlink(path)}, which does not exist; name a real directory")
    resolved = Path(os.path.realpath(path))
    if resolved == Path(resolved.anchor):
        raise UserError(f"{path}: refusing to write into the filesystem root; name a new directory")
    with contextlib.suppress(OSError, RuntimeError):  # no current or home directory: nothing to compare
        cwd = Path(os.path.realpath(Path.cwd()))
        if resolved == cwd or resolved in cwd.parents:
            raise UserError(f"{path}: refusing to write into the current directory or one of its parents;"
                            " name a new directory")
    with contextlib.suppress(OSError, RuntimeError):
        if resolved == Path(os.path.realpath(Path.home())):
            raise UserError(f"{path}: refusing to write into the home directory; name a new directory")
    for other, what in (protected or {}).items():
        if resolved == Path(os.path.realpath(other)):
            raise UserError(f"{path}: is {what}; name another directory")
    return resolved


def refuse_file_ancestor(path: str | Path, flag: str) -> None:
    """An output whose nearest existing ancestor is a file (`f.txt/out.json`) cannot be created; said now,
    naming the flag, rather than as a FileExistsError from mkdir once the work is done."""
    refuse_control_characters(path, flag)
    for ancestor in Path(path).parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise UserError(f"{flag} {path}: {ancestor} is a file, not a directory")
            return


def check_run_dir(path: str | Path, *, holds_run: Callable[[Path], bool], kind: str, flag: str = "--out") -> Path:
    """A directory a command fills over time (a search or training run, tuning records) must be new,
    empty, or already one of that command's runs."""
    path = Path(path)
    refuse_control_characters(path, flag)
    refuse_special(path)
    refuse_file_ancestor(path, flag)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: is a file; name a directory for the {kind}")
    if path.is_dir() and any(path.iterdir()) and not holds_run(path):
        raise UserError(f"{path}: is not empty and holds no {kind}; name a new or empty directory")
    return path


@contextlib.contextmanager
def exclusive(directory: str | Path, what: str) -> Iterator[Path]:
    """Hold `directory` for this process alone while the block runs: an exclusive flock on the directory
    itself, so no lock file is ever left in it, and the kernel drops the lock when its holder dies, however
    it dies. A second writer is refused at once with one UserError naming `what`, before it reads or writes
    anything. The directory is made if need be, and removed again if this call made it and it is still
    empty at the end (a refusal or interruption before the first file leaves nothing behind)."""
    directory = Path(directory)
    created = held = False
    try:
        try:
            directory.mkdir(parents=True)
            created = True
        except FileExistsError:
            pass
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise write_failed(directory, err) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Removed or renamed between the open and the lock: the path names another directory now.
            held = os.fstat(fd).st_ino == os.stat(directory).st_ino
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.ENOENT):
                raise
            held = False
        if not held:
            raise UserError(f"{directory}: another sonar process is writing this {what}; wait for it to end,"
                            " or name another directory")
        yield directory
    finally:
        if created and held:  # never a directory another writer holds
            with contextlib.suppress(OSError):  # not empty: the block wrote there
                directory.rmdir()
        os.close(fd)


@dataclass(frozen=True)
class _Survey:
    exists: bool
    ours: frozenset[str]  # files the marker lists that are there
    foreign: frozenset[str]  # files sonar did not write (relative POSIX paths)
    kind: str | None = None  # what kind of output the marker says wrote them (None: unknown)


@contextlib.contextmanager
def writing(target: str | Path, *, kind: str = "output", overwrite: bool = False,
            protected: Mapping[str | Path, str] | None = None) -> Iterator[Path]:
    """Yield an empty staging directory; when the block succeeds its files become `target`'s
    (see the module docstring for the rules). `kind` names the output (checkpoint, export, ...): files
    another kind wrote are never replaced. Refusals are raised before the block runs."""
    # Work on the resolved path: a link named as the target is followed, never replaced.
    target = check_claim(target, kind=kind, overwrite=overwrite, protected=protected)
    with staging_beside(target) as staging:
        yield staging
        _publish(staging, target, overwrite, kind)


def check_claim(target: str | Path, *, kind: str, overwrite: bool = False,
                protected: Mapping[str | Path, str] | None = None) -> Path:
    """`writing`'s refusals (also said before a long computation whose result would go to `target`);
    returns the resolved target."""
    target = refuse_special(target, protected=protected)
    _check_claim(target, _survey(target), overwrite, kind)
    return target


@contextlib.contextmanager
def staging_beside(target: Path) -> Iterator[Path]:
    """An empty temporary directory beside `target` (same filesystem, so it can be renamed onto it),
    removed whatever happens; an OS error inside becomes a UserError naming `target`."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_staging(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING_INFIX}", dir=target.parent))
        held = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise write_failed(target, err) from None
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # marks the copy as a live writer's: sweep_stale_staging keeps it
        yield staging
    except OSError as err:
        raise write_failed(target, err) from None
    except UserError as err:  # from a nested write: name where the files were going, not the staging copy
        if str(staging) not in str(err):
            raise
        raise type(err)(str(err).replace(str(staging), str(target))) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(held)


STAGING_INFIX = ".staging-"
STALE_AFTER_S = 60.0  # older than this and unlocked: no writer; a new copy is locked within microseconds


def sweep_stale_staging(target: Path) -> None:
    """Remove the staging copies beside `target` that a writer killed mid-write (kill -9, a power cut) left
    behind: each live writer holds an flock on its own copy, and the kernel drops it when the writer dies, so a
    copy this process can lock, and that is over a minute old, has no writer. Only names of sonar's own form
    (`.NAME.staging-XXXXXXXX`, from tempfile) are looked at."""
    for stale in target.parent.glob(f".{glob.escape(target.name)}{STAGING_INFIX}*"):
        try:
            if stale.is_symlink() or not stale.is_dir() or time.time() - stale.stat().st_mtime < STALE_AFTER_S:
                continue
            fd = os.open(stale, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live writer holds it
            os.close(fd)
            continue
        try:
            shutil.rmtree(stale, ignore_errors=True)
        finally:
            os.close(fd)


def _survey(target: Path) -> _Survey:
    if not target.exists():
        return _Survey(exists=False, ours=frozenset(), foreign=frozenset())
    if not target.is_dir():
        raise UserError(f"{target}: exists and is not a directory; name a directory")
    present = set(files_under(target))
    listed, kind = read_marker_and_kind(target) if MARKER in present else ((), None)
    listed = set(listed)
    present.discard(MARKER)
    return _Survey(exists=True, ours=frozenset(present & listed), foreign=frozenset(present - listed), kind=kind)


def _check_claim(target: Path, survey: _Survey, overwrite: bool, kind: str) -> None:
    if survey.ours and survey.kind not in (None, kind):
        raise UserError(f"{target}: holds a sonar {survey.kind}, which writing the {kind} here would replace;"
                        " name another directory")
    if survey.foreign and not overwrite:
        example = sorted(survey.foreign)[0]
        raise UserError(
            f"{target}: not empty and holds {len(survey.foreign)} file(s) sonar did not write (e.g. {example});"
            " choose a new directory, or pass --overwrite (overwrite=True) to write beside them:"
            " sonar then replaces only its own files"
        )


def files_under(root: Path) -> Iterator[str]:
    """Every non-directory entry under `root` as a relative POSIX path; symlinks are not followed."""
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        for name in files + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            yield (rel / name).as_posix()


def read_marker(directory: Path) -> list[str]:
    """The files sonar wrote into `directory`, as its marker lists them (validated: no absolute
    paths, no `..`, so nothing outside the directory can ever be named)."""
    return read_marker_and_kind(directory)[0]


def read_marker_and_kind(directory: Path) -> tuple[list[str], str | None]:
    """The marker's files (as `read_marker`) and the kind of output that wrote them: the kind it records,
    or for a marker from before kinds were recorded, the kind its files suggest (None: unknown)."""
    path = directory / MARKER
    try:
        data = strict_json.loads(path.read_text())
        files = data["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) and _is_inside(f) for f in files):
            raise ValueError("files must be a list of relative paths inside the directory")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not a valid sonar output marker ({err}); remove it if sonar did not"
                        " write this directory") from None
    kind = data.get("kind")
    if not (isinstance(kind, str) and kind):
        kind = next((known for name, known in _KIND_BY_FILE if name in files), None)
    return files, kind


def _is_inside(name: str) -> bool:
    pure = PurePosixPath(name)
    return bool(name) and not pure.is_absolute() and ".." not in pure.parts and pure.as_posix() == name


def write_marker(directory: Path, files: list[str], kind: str) -> None:
    """Mark `directory` as `kind`'s output, listing the files sonar wrote there (replaced atomically)."""
    tmp = directory / f"{MARKER}.tmp"
    tmp.write_text(json.dumps({"written_by": "sonar", "kind": kind, "files": sorted(files)}, indent=1))
    os.replace(tmp, directory / MARKER)


def _publish(staging: Path, target: Path, overwrite: bool, kind: str) -> None:
    new = sorted(f for f in files_under(staging) if f != MARKER)
    write_marker(staging, new, kind)
    survey = _survey(target)  # again: the directory may have changed while the block ran
    _check_claim(target, survey, overwrite, kind)
    if not survey.exists:
        os.rename(staging, target)
    elif not survey.ours and not survey.foreign and not any(target.iterdir()):
        os.replace(staging, target)  # onto an empty directory: one atomic rename
    elif not survey.foreign and not _holds_other_folders(target, survey.ours):
        _swap(staging, target, survey.ours)
    else:
        # The user's files, or folders no survey lists because they are empty: the new files go in beside
        # them. Swapping the directory aside would carry an empty folder of theirs into `.NAME.old-*`, and
        # renaming onto it failed as "Directory not empty" at the staging path.
        _merge(staging, target, new, survey, kind)


def _holds_other_folders(target: Path, ours: frozenset[str]) -> bool:
    """Whether `target` holds a folder that none of sonar's listed files sits in (an empty one of the user's)."""
    ours_folders = {parent.as_posix() for name in ours for parent in PurePosixPath(name).parents}
    for folder, dirs, _ in os.walk(target):
        rel = Path(folder).relative_to(target)
        if any((rel / d).as_posix() not in ours_folders for d in dirs if not (Path(folder) / d).is_symlink()):
            return True
    return False


def _swap(staging: Path, target: Path, ours: frozenset[str]) -> None:
    """Only sonar's files are there: rename the old directory aside, the new one in, then delete the
    old one's listed files. Anything that appeared there meanwhile is left in the aside directory."""
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, aside)
    os.rename(staging, target)
    _remove_listed(aside, ours | {MARKER})
    with contextlib.suppress(OSError):
        aside.rmdir()


def _merge(staging: Path, target: Path, new: list[str], survey: _Survey, kind: str) -> None:
    """Files sonar did not write are there (and --overwrite was given): move the new files in one by
    one beside them. A clash with one of theirs is refused before anything moves."""
    for name in new:
        clash = _clash(target, name, survey.foreign)
        if clash:
            raise UserError(f"{target / clash}: sonar did not write it and would have to replace it;"
                            " move it away or choose another directory")
    # Listed first, so an interruption never leaves sonar's files looking like the user's.
    write_marker(target, sorted(survey.ours | set(new)), kind)
    for name in new:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, target / name)
    _remove_listed(target, survey.ours - set(new))
    write_marker(target, new, kind)


def _clash(target: Path, name: str, foreign: frozenset[str]) -> str | None:
    parts = PurePosixPath(name).parts
    for depth in range(1, len(parts)):  # every parent must be a real directory, never a link
        prefix = Path(*parts[:depth])
        path = target / prefix
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            return prefix.as_posix()
    if name in foreign or (target / name).is_dir():
        return name
    return None


def _remove_listed(directory: Path, names: frozenset[str] | set[str]) -> None:
    """Delete the listed files (a link itself, never what it points to), then the folders they leave
    empty; a file whose folder resolves outside `directory` is left alone."""
    root = Path(os.path.realpath(directory))
    for name in sorted(names):
        path = directory / name
        parent = Path(os.path.realpath(path.parent))
        if parent != root and root not in parent.parents:
            continue
        if path.is_symlink() or path.is_file():
            path.unlink()
        for folder in PurePosixPath(name).parents:
            if folder == PurePosixPath("."):
                break
            with contextlib.suppress(OSError):  # not empty: someone else's files are there
                (directory / folder).rmdir()
