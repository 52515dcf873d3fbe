"""The curriculum: the difficulty level rises by one when the recent sampled accuracy reaches a
threshold, so RL keeps working where the policy is neither hopeless nor perfect."""

from __future__ import annotations

from dataclasses import dataclass, field

from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.posttrain.tasks import MAX_LEVEL, check_level


@dataclass(kw_only=True)
class Curriculum:
    level: int
    max_level: int = MAX_LEVEL
    threshold: float = 0.7  # window-mean accuracy that earns the next level
    window: int = 5  # steps averaged
    recent: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_types(self)
        check_level(self.level, "start_level")
        check_level(self.max_level, "max_level")
        if self.max_level < self.level:
            raise UserError(f"max_level={self.max_level}: must be >= start_level={self.level}")
        if not 0 < self.threshold <= 1:
            raise UserError(f"curriculum threshold={self.threshold}: must be in (0, 1]")
        if self.window < 1:
            raise UserError(f"curriculum window={self.window}: must be >= 1")

    def observe(self, accuracy: float) -> bool:
        """Record one step's accuracy; True when the level went up (the window starts afresh there)."""
        self.recent = (self.recent + [accuracy])[-self.window:]
        full = len(self.recent) == self.window
        if full and sum(self.recent) / self.window >= self.threshold and self.level < self.max_level:
            self.level += 1
            self.recent = []
            return True
        return False

    def to_dict(self) -> dict:
        return {"level": self.level, "recent": list(self.recent)}
