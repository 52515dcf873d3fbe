"""The PNG of `sonar eval length`: loss against position at the longest length, one line per setting."""

from __future__ import annotations

import io
from pathlib import Path

from sonar.data.cache import write_atomic


def write_length_png(path: Path, results: dict, *, title: str) -> None:
    from sonar.plotting import pyplot

    plt = pyplot()

    width = results["bucket_width"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for setting in results["settings"]:
        longest = max(setting["lengths"], key=int)
        buckets = setting["lengths"][longest]["bucket_loss"]
        centers = [(i + 0.5) * width for i in range(len(buckets))]
        style = "--" if setting["path"] == "cached" else "-"
        ax.plot(centers, buckets, style, marker="o", ms=3, label=setting["name"])
    ax.axvline(results["train_len"], color="grey", lw=1, ls=":", label="training length")
    ax.set(xlabel="position (bucket centre, tokens)", ylabel="val loss (nats/token)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
