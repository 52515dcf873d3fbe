"""System optimization search: how to run a model fastest on a target at acceptable quality.

Knobs (SystemConfig) are applied to a built model from outside (apply.py); workloads say what is
timed; trial.py measures one config; SystemTuner orders, races and stops the search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sonar.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sonar.systems.config import FORMATS, WEIGHT_SCHEMES, SystemConfig, SystemConfigError
    from sonar.systems.space import SearchSpace, check
    from sonar.systems.trial import MeasureSettings
    from sonar.systems.tuner import SystemTuner
    from sonar.systems.workload import Workload

# Imported on first use (sonar/lazy_exports.py): importing the package loads none of these modules.
EXPORTS = {
    "FORMATS": "sonar.systems.config",
    "SystemConfig": "sonar.systems.config",
    "SystemConfigError": "sonar.systems.config",
    "WEIGHT_SCHEMES": "sonar.systems.config",
    "SearchSpace": "sonar.systems.space",
    "check": "sonar.systems.space",
    "MeasureSettings": "sonar.systems.trial",
    "SystemTuner": "sonar.systems.tuner",
    "Workload": "sonar.systems.workload",
}
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

__all__ = ["FORMATS", "MeasureSettings", "SearchSpace", "SystemConfig", "SystemConfigError", "SystemTuner",
           "WEIGHT_SCHEMES", "Workload", "check"]
