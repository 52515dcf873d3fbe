"""The benchmark's one recommendation rule: what a method has observed -> the pick that is scored.

Every method, the engine's schedulers and the peer libraries alike, is scored through `recommend()`:
a pure function of the observations (per candidate: the curve points seen, the measured tuning
trials by trace index) and the objective. No method can set its own recommendation, so methods
differ only in what they choose to train, tune and measure.

Two named rules (L = the table's last checkpoint, eta = 4):

    completed
      pool = candidates observed at step L
      constraint: among the pool with a feasible measured config, the lowest loss at L,
                  at its fastest feasible config (ties: candidate id, trial index)
      pareto:     the non-dominated (loss at L, log latency) pairs over the pool's acceptable configs

    checkpoint (shared checkpoint; the default)
      constraint: F = candidates with a feasible measured config
                  if no member of F is observed at L: the lowest latest-observed loss in F wins
                  else: leader = the member of F observed at L with the lowest loss at L;
                        a member of F observed at >= L/eta (the last two rungs of an eta=4 ladder)
                        but not at L challenges it by a lower loss at its own latest step than the
                        leader's at that step; the pick is the leader while none does, else the
                        challenger lowest at the deepest step all challengers share
                        (search/shared_checkpoint.py)
                  the winner at its fastest feasible config
      pareto:     the non-dominated (latest loss, log latency) pairs over every observed
                  candidate's acceptable configs

Nothing is recommended (None, or [] in Pareto mode) until some candidate qualifies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sonar.bench.regret import Objective, Pick, non_dominated
from sonar.errors import UserError
from sonar.interfaces import CurvePoint, TuningPoint
from sonar.search.shared_checkpoint import checkpoint_pick

RULES = ("completed", "checkpoint")
DEFAULT_RULE = "checkpoint"
DEPTH_ETA = 4  # a running candidate competes once trained to at least L / DEPTH_ETA


@dataclass
class Observed:
    """What a method has paid to see of one candidate."""

    curve: list[CurvePoint] = field(default_factory=list)
    trials: dict[int, TuningPoint] = field(default_factory=dict)  # trace index -> measured trial

    @property
    def steps(self) -> int:
        return self.curve[-1].step if self.curve else 0

    def loss_at(self, step: int) -> float:
        """Val loss at the last evaluation at or before `step`."""
        losses = [p.val_loss for p in self.curve if p.step <= step]
        return losses[-1] if losses and math.isfinite(losses[-1]) else math.inf


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise UserError(f"recommendation rule {rule!r}: choose one of {list(RULES)}")
    return rule


def recommend(observed: Mapping[str, Observed], objective: Objective, *, rule: str,
              last_step: int) -> Pick | list[Pick] | None:
    """The pick (constraint) or picks (Pareto) the benchmark scores for these observations."""
    check_rule(rule)
    seen = {cid: o for cid, o in observed.items() if o.curve}
    if rule == "completed":
        seen = {cid: o for cid, o in seen.items() if o.steps >= last_step}
    if objective.mode == "pareto":
        return _front(seen, objective)
    feasible = {cid: o for cid, o in seen.items() if _fastest(o, objective.feasible) is not None}
    completed = {cid: o for cid, o in feasible.items() if o.steps >= last_step}
    leader = _lowest({cid: o.loss_at(last_step) for cid, o in completed.items()})
    if rule == "checkpoint" and leader is None:
        winner = _lowest({cid: o.loss_at(o.steps) for cid, o in feasible.items()})
    elif rule == "checkpoint":
        running = {cid: o.steps for cid, o in feasible.items()
                   if cid not in completed and o.steps * DEPTH_ETA >= last_step}
        winner = checkpoint_pick(leader, running, lambda cid, step: feasible[cid].loss_at(step))
    else:
        winner = leader
    if winner is None:
        return None
    return Pick(candidate_id=winner, trial=_fastest(feasible[winner], objective.feasible))


def _lowest(losses: Mapping[str, float]) -> str | None:
    finite = [cid for cid in sorted(losses) if math.isfinite(losses[cid])]
    return min(finite, key=lambda cid: (losses[cid], cid)) if finite else None


def _fastest(seen: Observed, keep) -> int | None:
    trials = [i for i, t in seen.trials.items() if keep(t)]
    return min(trials, key=lambda i: (seen.trials[i].latency_s, i)) if trials else None


def _front(seen: Mapping[str, Observed], objective: Objective) -> list[Pick]:
    pairs: list[tuple[float, float, Pick]] = []
    for cid in sorted(seen):
        loss = seen[cid].loss_at(seen[cid].steps)
        if not math.isfinite(loss):
            continue
        for index, trial in sorted(seen[cid].trials.items()):
            if objective.acceptable(trial):
                pairs.append((loss, math.log(trial.latency_s), Pick(candidate_id=cid, trial=index)))
    keep = non_dominated([(loss, log_latency) for loss, log_latency, _ in pairs])
    return [pairs[i][2] for i in keep]
