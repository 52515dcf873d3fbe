"""The notice that travels with weights derived from Meta's Llama 4: written beside the weights on
save and export, with a warning when the model's name breaks the license's naming rule.

This is a summary and a pointer, not the license: the Llama 4 Community License's official text
(https://www.llama.com/llama4/license/, shipped as LICENSE with Meta's checkpoints) governs, and must
accompany redistributed weights. When the source checkpoint held that text it is copied as LICENSE.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

LICENSE_URL = "https://www.llama.com/llama4/license/"
ACCEPTABLE_USE_URL = "https://www.llama.com/llama4/use-policy/"
NOTICE_FILE = "NOTICE"
SUMMARY_FILE = "LLAMA4_LICENSE_NOTICE.md"
LICENSE_FILE = "LICENSE"
OFFICIAL_TEXT_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md")
NAME_PREFIX = "Llama"

NOTICE_TEXT = """Built with Llama

Llama 4 is licensed under the Llama 4 Community License, Copyright © Meta Platforms, Inc. All Rights Reserved.
"""

SUMMARY_TEXT = f"""# Llama 4 Community License: what travels with these weights

These weights derive from Meta's Llama 4 and are governed by the **Llama 4 Community License**.
This file is a summary written by sonar to point at the terms; it is not the license and does
not replace it. The official text: {LICENSE_URL}

What the license requires of anyone who redistributes these weights or a product built on them:

- **The official license text must accompany them.** Ship the Llama 4 Community License text
  with the weights (Meta's checkpoints carry it as `LICENSE`; if it is not beside this file, add it
  from {LICENSE_URL} before redistributing).
- **Attribution.** Display "Built with Llama" prominently on a related website, user interface,
  blog post, about page or product documentation, and keep the notice in `NOTICE`.
- **Naming.** A model created, trained or fine-tuned from these weights and distributed must have a
  name that begins with "Llama".
- **700 million monthly active users.** If the products or services of the licensee (or its
  affiliates) had more than 700 million monthly active users in the month before the Llama 4
  release date, a separate license must be requested from Meta.
- **Acceptable use.** Use must comply with the Llama 4 Acceptable Use Policy ({ACCEPTABLE_USE_URL}).

Read the official text for the exact terms.
"""


def write_license_files(directory: Path, provenance: dict) -> list[str]:
    """Write NOTICE and the summary into `directory` (a staging directory), and copy the official
    text when the source checkpoint had it; returns the file names written."""
    (directory / NOTICE_FILE).write_text(NOTICE_TEXT, encoding="utf-8")
    (directory / SUMMARY_FILE).write_text(SUMMARY_TEXT, encoding="utf-8")
    written = [NOTICE_FILE, SUMMARY_FILE]
    official = _official_text(provenance.get("source"))
    if official is not None and not (directory / LICENSE_FILE).exists():
        shutil.copyfile(official, directory / LICENSE_FILE)
        written.append(LICENSE_FILE)
    return written


def _official_text(source: str | None) -> Path | None:
    if not source:
        return None
    return next((Path(source) / name for name in OFFICIAL_TEXT_NAMES if (Path(source) / name).is_file()), None)


class LlamaNamingWarning(UserWarning):
    """A Llama-4-derived model saved under a name that does not begin with "Llama"."""


def warn_if_misnamed(name: str) -> None:
    if not name.startswith(NAME_PREFIX):
        warnings.warn(
            f"{name!r}: this model derives from Meta Llama 4, whose license requires a distributed derivative's "
            f"name to begin with {NAME_PREFIX!r} (see {SUMMARY_FILE} and {LICENSE_URL})",
            LlamaNamingWarning, stacklevel=3,
        )


def carry_license(model_dir: Path, name: str) -> None:
    """A checkpoint directory being exported under `name`: weights derived from Llama 4 leave with
    its notice (written when missing), and a name breaking its naming rule is warned about."""
    from sonar.checkpoint.files import read_config
    from sonar.checkpoint.provenance import checkpoint_provenance, derives_from_llama4

    provenance = checkpoint_provenance(model_dir, read_config(model_dir))
    if derives_from_llama4(provenance):
        if not (model_dir / NOTICE_FILE).is_file():
            write_license_files(model_dir, provenance)
        warn_if_misnamed(name)
