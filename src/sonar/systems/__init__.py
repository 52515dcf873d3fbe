"""System optimization search: how to run a model fastest on a target at acceptable quality.

Knobs (SystemConfig) are applied to a built model from outside (apply.py); workloads say what is
timed; trial.py measures one config; SystemTuner orders, races and stops the search.
"""

from sonar.systems.config import FORMATS, WEIGHT_SCHEMES, SystemConfig, SystemConfigError
from sonar.systems.space import SearchSpace, check
from sonar.systems.trial import MeasureSettings
from sonar.systems.tuner import SystemTuner
from sonar.systems.workload import Workload

__all__ = ["FORMATS", "MeasureSettings", "SearchSpace", "SystemConfig", "SystemConfigError", "SystemTuner",
           "WEIGHT_SCHEMES", "Workload", "check"]
