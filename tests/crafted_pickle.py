"""A checkpoint-shaped pickle whose loading, if it ever unpickled objects, would create a marker file."""

from pathlib import Path

import torch


class _TouchOnLoad:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")  # unpickling calls open(marker, "w"): the file appears


def write_crafted_checkpoint(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": 2, "state": _TouchOnLoad(marker)}, path)


def payload_runs_when_unpickled(tmp: Path) -> bool:
    """Proof that the payload is live: an unrestricted torch.load creates its marker."""
    probe = tmp / "probe-marker"
    (tmp / "probe.pt").parent.mkdir(parents=True, exist_ok=True)
    write_crafted_checkpoint(tmp / "probe.pt", probe)
    torch.load(tmp / "probe.pt", weights_only=False)["state"].close()
    return probe.exists()
