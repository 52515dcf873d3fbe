"""Optional subprocess isolation: a trial in its own Python process, killed at its timeout.
A crash, a hard hang in compilation or an OOM kill then costs one trial, never the tuner.
The worker rebuilds the model (checkpoint or seeded init) and its own fp32 reference, so only
the logits-error quality metric is available there (a val-loss callable cannot cross processes)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from sonar.interfaces import Candidate
from sonar.systems.config import SystemConfig
from sonar.systems.trial import MeasureSettings, TrialResult
from sonar.systems.workload import Workload

STARTUP_ALLOWANCE_S = 60.0  # importing torch and building the model, on top of the trial's own timeout


def run_trial_isolated(candidate: Candidate, checkpoint: str | None, config: SystemConfig, workload: Workload,
                       settings: MeasureSettings, *, incumbent: list[float] | None = None,
                       extra_env: dict[str, str] | None = None) -> TrialResult:
    spec = {
        "model": candidate.model.to_dict(), "seed": candidate.seed, "checkpoint": checkpoint,
        "config": config.to_dict(), "workload": workload.label(), "settings": settings.__dict__,
        "incumbent": incumbent or [],
    }
    start = time.perf_counter()
    timeout = settings.timeout_s + STARTUP_ALLOWANCE_S
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2]),
                                                                     os.environ.get("PYTHONPATH")])),
           **(extra_env or {})}
    try:
        proc = subprocess.run([sys.executable, "-m", "sonar.systems.worker"], input=json.dumps(spec),
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return TrialResult(config=config.to_dict(), failure=f"timeout: worker killed after {timeout:.0f}s",
                           seconds=time.perf_counter() - start)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        reason = "out of memory (killed)" if proc.returncode in (-9, 137) else f"worker exited {proc.returncode}"
        return TrialResult(config=config.to_dict(), failure=f"{reason}: {tail}", seconds=time.perf_counter() - start)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    data["seconds"] = time.perf_counter() - start  # process start-up is part of what the trial cost
    data["latency_s"] = float(data["latency_s"]) if data["latency_s"] is not None else math.inf
    return TrialResult(**data)
