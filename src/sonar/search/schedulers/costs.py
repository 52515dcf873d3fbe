"""What one tuning trial costs against one training step, read off the jobs already done.

Both costs grow with the model, so their ratio is far steadier across candidates than either cost
alone: it lets a scheduler price a rung's trials in training steps before the rung runs. The ratio
is a median over candidates that have run both kinds of job, so one slow outlier cannot swing it.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from sonar.search.state import SearchState


def trial_cost_in_steps(state: SearchState) -> float | None:
    """Median over candidates of (seconds per tuning trial) / (seconds per training step); None until
    some candidate has finished a job of each kind with a positive cost."""
    per_unit: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"train": [0.0, 0.0], "tune": [0.0, 0.0]})
    for record in state.jobs.values():
        job = record.job
        units = job.until - job.start
        if record.status != "done" or units <= 0:
            continue
        totals = per_unit[job.candidate][job.kind]
        totals[0] += record.cost_s
        totals[1] += units
    ratios = []
    for totals in per_unit.values():
        (train_s, steps), (tune_s, trials) = totals["train"], totals["tune"]
        if train_s > 0 and steps > 0 and tune_s > 0 and trials > 0:
            ratios.append((tune_s / trials) / (train_s / steps))
    return statistics.median(ratios) if ratios else None
