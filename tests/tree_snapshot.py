"""Everything under a directory (paths, kinds, bytes), to assert that a command changed nothing it
should not have."""

import hashlib
import os
from pathlib import Path


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> 'dir', 'link -> DEST' or the file's sha256; links are not followed."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                tree[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                tree[rel] = "dir"
            else:
                tree[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tree
