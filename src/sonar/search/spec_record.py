"""The spec a run accepted, and its sha256: an edit to the stored spec is caught, with its diff.

A run records `spec_accepted` (the spec and the sha256 of its canonical JSON) when it is created,
and again when a changed spec is accepted (`--allow-spec-change`). A resume compares the stored
spec, which the fold reads, with the last accepted one.
"""

from __future__ import annotations

import difflib
import hashlib
import json

import yaml

from sonar.errors import UserError

ACCEPTED = "spec_accepted"
_DIFF_LINES = 60


def spec_sha256(raw: dict) -> str:
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def accepted_record(raw: dict) -> dict:
    return {"sha256": spec_sha256(raw), "spec": raw}


def spec_diff(before: dict, after: dict) -> str:
    lines = list(difflib.unified_diff(yaml.safe_dump(before, sort_keys=True).splitlines(),
                                      yaml.safe_dump(after, sort_keys=True).splitlines(),
                                      "accepted spec", "stored spec now", lineterm="", n=1))
    if len(lines) > _DIFF_LINES:
        lines = lines[:_DIFF_LINES] + [f"... ({len(lines) - _DIFF_LINES} more diff lines)"]
    return "\n".join(lines)


def check_stored_spec(events: list[tuple[str, dict, float]], *, where: str,
                      allow_change: bool) -> dict | None:
    """The `spec_accepted` payload to record, or None when the stored spec is the accepted one.
    Raises UserError, with the diff, when the stored spec changed and the change is not allowed.
    A run from before specs were hashed has nothing to compare: its spec is accepted as found."""
    stored = events[0][1]["spec"]
    accepted = next((p for kind, p, _ in reversed(events) if kind == ACCEPTED), None)
    if accepted is None:
        return accepted_record(stored)
    if spec_sha256(stored) == accepted["sha256"]:
        return None
    if not allow_change:
        raise UserError(f"{where}: the stored spec was edited after the run started (sha256 "
                        f"{accepted['sha256'][:12]} accepted, {spec_sha256(stored)[:12]} now); resume with "
                        f"--allow-spec-change to continue under the edited spec:\n"
                        f"{spec_diff(accepted['spec'], stored)}")
    return accepted_record(stored)
