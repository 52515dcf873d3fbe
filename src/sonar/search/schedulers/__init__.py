"""SONAR and its baselines, by the name a spec's `scheduler:` key uses."""

from sonar.search.schedulers.base import RungScheduler, Scheduler
from sonar.search.schedulers.baselines import (
    AshaScheduler,
    BruteForceScheduler,
    RandomSearchScheduler,
    SequentialScheduler,
)
from sonar.search.schedulers.sonar import SonarScheduler

SCHEDULERS: dict[str, type[RungScheduler]] = {
    cls.name: cls
    for cls in (SonarScheduler, BruteForceScheduler, RandomSearchScheduler, SequentialScheduler, AshaScheduler)
}


def make_scheduler(spec, name: str | None = None) -> RungScheduler:
    return SCHEDULERS[name or spec.scheduler](spec)


__all__ = ["SCHEDULERS", "RungScheduler", "Scheduler", "make_scheduler"]
