"""Subprocess entry point of an isolated trial: a JSON spec on stdin, a TrialResult as JSON on stdout."""

from __future__ import annotations

import dataclasses
import json
import sys


def main() -> None:
    spec = json.loads(sys.stdin.read())
    from sonar.checkpoint import load_pretrained
    from sonar.model import ModelConfig, build_model
    from sonar.systems.config import SystemConfig
    from sonar.systems.trial import MeasureSettings, Reference, run_trial
    from sonar.systems.workload import Workload

    if spec["checkpoint"]:
        model = load_pretrained(spec["checkpoint"]).eval()
    else:
        model = build_model(ModelConfig.from_dict(spec["model"]), seed=spec["seed"]).eval()
    settings = MeasureSettings(**spec["settings"])
    result = run_trial(model, SystemConfig.from_dict(spec["config"]), Workload.parse(spec["workload"]),
                       Reference(model, seed=settings.seed), settings=settings, incumbent=spec["incumbent"])
    print(json.dumps(dataclasses.asdict(result)))


if __name__ == "__main__":
    main()
