"""What a search has found so far, read off its state: the measured points, the recommendation,
the Pareto front. Used by `sonar status`, the report, export and the live view."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from sonar.search.long_context import latest, recommendable
from sonar.search.objective import choose, pareto_front
from sonar.search.placement import placement_label
from sonar.search.schedulers.base import RungScheduler
from sonar.search.shared_checkpoint import checkpoint_pick
from sonar.search.state import ACTIVE, FINISHED, SearchState
from sonar.search.target_views import target_state, worst_case_state


@dataclass(frozen=True)
class Measured:
    id: str
    status: str
    rung: int
    steps: int
    trials: int
    val_loss: float
    latency_s: float
    memory_bytes: float
    system: dict | None
    reason: str
    long_ratio: float | None = None  # the latest long-context measurement's ratio (long_context.py)
    long_ok: bool = True  # meets the spec's long-context bound (True without one)


def measured(state: SearchState) -> list[Measured]:
    rows = []
    bound = state.spec.objective.long_context
    for c in state.candidates.values():
        best = min((p for p in c.tuning if math.isfinite(p.latency_s)), key=lambda p: p.latency_s, default=None)
        long = latest(c.curve)
        rows.append(Measured(id=c.id, status=c.status, rung=c.rung, steps=c.steps_done(), trials=c.trials_done(),
                             val_loss=c.val_loss() if math.isfinite(c.val_loss()) else math.inf,
                             latency_s=c.best_latency(), memory_bytes=RungScheduler.memory(c),
                             system=best.config if best else None, reason=c.reason,
                             long_ratio=None if long is None else long.ratio,
                             long_ok=recommendable(bound, c.curve)))
    return rows


def best(state: SearchState) -> str | None:
    """The recommendation among fully trained and tuned candidates, or among all while none of those
    meets the objective (a finished candidate that misses the latency bound recommends nothing).

    Under a constraint, a candidate still running that is trained at least 1/eta of the way (it has
    reached the last rung or the one before) and already meets the bound can take the recommendation
    from the finished leader by a lower loss at the steps the two share (search/shared_checkpoint.py):
    otherwise the first candidate to finish holds the recommendation while a clearly better one
    completes its last rung.

    With a long-context bound, only candidates measured to meet it are recommended (long_context.py)."""
    rows = [r for r in measured(state) if r.long_ok]
    finished = [r for r in rows if r.status == FINISHED]
    objective = state.spec.objective
    chosen = choose(objective, [_row(r) for r in finished])
    if chosen is None:
        return choose(objective, [_row(r) for r in rows])
    if objective.kind != "constraint":
        return chosen
    deep = state.spec.budget.max_steps // state.spec.eta
    running = {r.id: r.steps for r in rows if r.status == ACTIVE and r.steps >= deep and choose(objective, [_row(r)])}
    return checkpoint_pick(chosen, running, lambda cid, step: _loss_at(state.candidates[cid], step))


def _row(r: Measured) -> tuple[str, float, float, float]:
    return r.id, r.val_loss, r.latency_s, r.memory_bytes


def _loss_at(c, step: int) -> float:
    """Val loss at the last evaluation at or before `step`."""
    losses = [p.val_loss for p in c.curve if p.step <= step and math.isfinite(p.val_loss)]
    return losses[-1] if losses else math.inf


def target_winners(state: SearchState) -> dict[str, Measured | None]:
    """Target name -> the winner on that target, measured there (None while there is none): under
    `across_targets: each` each target's own best within its bound, under `worst` the one candidate
    best within every target's bound. The first target's is what `best` means for one target."""
    worst = len(state.spec.targets) > 1 and state.spec.objective.across_targets == "worst"
    common = best(worst_case_state(state)) if worst else None
    winners = {}
    for target in state.spec.targets:
        view = target_state(state, target)
        chosen = common if worst else best(view)
        winners[target.name] = next((r for r in measured(view) if r.id == chosen), None)
    return winners


def front(state: SearchState) -> list[str]:
    rows = measured(state)
    finished = [r for r in rows if r.status == FINISHED] or rows
    return pareto_front([(r.id, r.val_loss, r.latency_s) for r in finished])


def target_fronts(state: SearchState) -> dict[str, list[dict]]:
    """Target name -> its Pareto front of (val loss, latency on that target), each point measured there.
    A model that is best for the laptop need not be on the server's front, so each target has its own."""
    fronts = {}
    for target in state.spec.targets:
        view = target_state(state, target)
        rows = {r.id: r for r in measured(view)}
        fronts[target.name] = [{"id": i, "val_loss": rows[i].val_loss, "latency_s": rows[i].latency_s}
                               for i in front(view)]
    return fronts


def summary(state: SearchState, *, engine_live: bool = False) -> dict:
    rows = {r.id: r for r in measured(state)}
    winners = target_winners(state)
    several = len(state.spec.targets) > 1  # one target: its front is `pareto`, as it always was
    fronts = target_fronts(state) if several else {}
    pick = next(iter(winners.values()))
    run_state = "finished" if state.finished else ("running" if engine_live else
                                                   ("interrupted" if state.jobs else "created"))
    return {
        "state": run_state,
        "best": None if pick is None else {"id": pick.id, "val_loss": pick.val_loss, "latency_s": pick.latency_s,
                                           "system": pick.system, "model": state.candidates[pick.id].model.to_dict(),
                                           **_long_fields(state, pick)},
        "per_target": [{"target": t.name, "latency_bound_s": t.latency_s,
                        **({"id": None} if w is None else {"id": w.id, "val_loss": w.val_loss,
                                                          "latency_s": w.latency_s, "system": w.system}),
                        **({"pareto": fronts[t.name]} if several else {})}
                       for t, w in zip(state.spec.targets, winners.values(), strict=True)],
        "pareto": [{"id": i, "val_loss": rows[i].val_loss, "latency_s": rows[i].latency_s} for i in front(state)],
        "jobs_done": state.jobs_done(),
        "jobs_failed": state.jobs_failed(),
        "jobs_running": len(state.running()),
        "placements": jobs_by_place(state),
        "candidates": len(state.candidates),
        "spent_s": state.spent_s,
        "scheduler": state.spec.scheduler,
    }


def _long_fields(state: SearchState, row: Measured) -> dict:
    """The measured long-context ratio, where the spec bounds it (a summary without a bound is unchanged)."""
    bound = state.spec.objective.long_context
    return {} if bound is None else {"long_context_factor": bound.factor, "long_ratio": row.long_ratio}


def jobs_by_place(state: SearchState) -> dict[str, int]:
    """How many finished jobs ran where (placement.py), busiest first; empty where none was recorded."""
    counts = Counter(placement_label(r.placement) for r in state.jobs.values() if r.placement)
    return dict(counts.most_common())
