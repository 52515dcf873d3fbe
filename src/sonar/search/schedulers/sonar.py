"""SONAR: both budgets grow together rung by rung; forecasts of both curves rank and eliminate."""

from __future__ import annotations

from sonar.search.schedulers.base import RungScheduler


class SonarScheduler(RungScheduler):
    name = "sonar"
    forecast = True
    eliminates = True
