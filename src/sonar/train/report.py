"""A run's learning curve on disk: curve.json and a PNG of train and val loss against tokens."""

from __future__ import annotations

import io
from pathlib import Path

from sonar.data.cache import write_atomic
from sonar.interfaces import CurvePoint
from sonar.strict_json import dumps_strict


def write_curve_json(path: Path, curve: list[CurvePoint], **summary) -> None:
    payload = {**summary, "curve": [p.__dict__ for p in curve]}
    write_atomic(path, dumps_strict(payload, indent=1).encode())


def write_curve_png(path: Path, curve: list[CurvePoint], *, title: str, entropy: float | None = None,
                    stage_tokens: list[int] = ()) -> None:
    """`stage_tokens`: where later training stages start, drawn as vertical lines."""
    from sonar.plotting import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    tokens = [p.tokens for p in curve]
    ax.plot(tokens, [p.train_loss for p in curve], marker="o", ms=3, label="train")
    ax.plot(tokens, [p.val_loss for p in curve], marker="o", ms=3, label="val")
    if entropy is not None:
        ax.axhline(entropy, color="grey", ls="--", lw=1, label="unigram entropy")
    for i, tokens in enumerate(stage_tokens):
        ax.axvline(tokens, color="tab:red", ls=":", lw=1, label="new stage" if i == 0 else None)
    ax.set(xlabel="tokens", ylabel="loss (nats/token)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
