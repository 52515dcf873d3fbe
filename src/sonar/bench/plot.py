"""Regret against virtual cost, one line per method (median over seeds, interquartile band)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sonar.bench.runner import THRESHOLD, MethodRuns

REGRET_CEILING = 1.0  # no recommendation yet, or an infeasible one, is drawn here
REGRET_FLOOR = 1e-4  # zero regret is drawn here (log scale)


def regret_at(trace, grid_s: np.ndarray) -> np.ndarray:
    """The regret in force at each grid time (a step function of the trace)."""
    times = np.array([p.seconds for p in trace])
    values = np.array([min(REGRET_CEILING, p.regret) if math.isfinite(p.regret) else REGRET_CEILING for p in trace])
    index = np.searchsorted(times, grid_s, side="right") - 1
    out = np.where(index >= 0, values[np.clip(index, 0, None)], REGRET_CEILING)
    return np.clip(out, REGRET_FLOOR, REGRET_CEILING)


def plot_regret(runs: Sequence[MethodRuns], brute_force_s: float, path: str | Path, *, title: str) -> None:
    from sonar.plotting import pyplot

    plt = pyplot()

    grid = np.geomspace(brute_force_s * 1e-3, brute_force_s, 200)
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.get_cmap("tab20").colors  # ten colours would repeat among a dozen methods
    for i, run in enumerate(runs):
        curves = np.stack([regret_at(trace, grid) for trace in run.traces])
        p25, median, p75 = np.percentile(curves, [25, 50, 75], axis=0)
        width = 2.5 if run.name == "sonar" else 1.2
        (line,) = ax.step(grid / brute_force_s, median, where="post", label=run.name, color=colors[(2 * i) % 20
                          if i < 10 else (2 * i + 1) % 20], linewidth=width)
        ax.fill_between(grid / brute_force_s, p25, p75, step="post", alpha=0.15, color=line.get_color())
    ax.axhline(THRESHOLD, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("virtual cost / brute-force cost")
    ax.set_ylabel("regret (median over seeds; 25-75% band)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
