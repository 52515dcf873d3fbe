"""SONAR: both budgets grow together rung by rung; forecasts of both curves rank and eliminate."""

from __future__ import annotations

from sonar.search.schedulers.base import RungScheduler
from sonar.search.schedulers.policy import SONAR_RULES


class SonarScheduler(RungScheduler):
    name = "sonar"
    default_rules = SONAR_RULES  # the whole policy; see policy.py
