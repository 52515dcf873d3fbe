"""The pipeline's PNG: test accuracy per difficulty level after each stage (one line per level, and the
overall mean; with several seeds, the mean and the min-max band)."""

from __future__ import annotations

from pathlib import Path

from sonar.posttrain.pipeline import STAGES


def accuracy_table(reports: list[dict]) -> dict[str, dict[str, list[float]]]:
    """{series: {stage: [value per seed]}}, series being "overall" and each level."""
    table: dict[str, dict[str, list[float]]] = {}
    for report in reports:
        for stage in STAGES:
            accuracy = report["stages"][stage]["accuracy"]
            series = {"overall": accuracy["overall"], **{f"level {k}": v for k, v in accuracy["by_level"].items()}}
            for name, value in series.items():
                table.setdefault(name, {}).setdefault(stage, []).append(value)
    return table


def task_table(reports: list[dict]) -> dict[str, dict[str, list[float]]]:
    """{task: {stage: [accuracy over its levels, per seed]}}."""
    table: dict[str, dict[str, list[float]]] = {}
    for report in reports:
        for stage in STAGES:
            by_task: dict[str, list[float]] = {}
            for cell in report["stages"][stage]["accuracy"]["cells"]:
                by_task.setdefault(cell["task"], []).append(cell["accuracy"])
            for task, values in by_task.items():
                table.setdefault(task, {}).setdefault(stage, []).append(sum(values) / len(values))
    return table


def summary_lines(reports: list[dict]) -> list[str]:
    """One line per level and per task: each stage's mean accuracy and, over several seeds, its min..max."""
    lines = []
    for name, by_stage in {**accuracy_table(reports), **task_table(reports)}.items():
        cells = []
        for stage in STAGES:
            v = by_stage[stage]
            spread = f" ({min(v):.2f}..{max(v):.2f})" if len(v) > 1 else ""
            cells.append(f"{stage} {sum(v) / len(v):.3f}{spread}")
        lines.append(f"{name:<9} " + ", ".join(cells))
    return lines


def write_accuracy_png(path: Path, reports: list[dict], title: str) -> None:
    from sonar.plotting import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = list(range(len(STAGES)))
    for name, by_stage in accuracy_table(reports).items():
        values = [by_stage[s] for s in STAGES]
        mean = [sum(v) / len(v) for v in values]
        line = ax.plot(x, mean, marker="o", label=name, linewidth=2.5 if name == "overall" else 1.2)[0]
        if len(reports) > 1:
            ax.fill_between(x, [min(v) for v in values], [max(v) for v in values], alpha=0.15,
                            color=line.get_color())
    ax.set_xticks(x, STAGES)
    ax.set_ylim(0, 1)
    ax.set_ylabel("exact-match accuracy (test split)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
