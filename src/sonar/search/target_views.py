"""A search over several targets seen one target at a time, or as its worst case.

The scheduler and the results were written for one target; rather than teach each of them about
several, they are handed a view of the state in which there is one:

- `target_state(state, target)`: every candidate's tuning on that target, and that target's bound as
  the objective's. Used for `across_targets: each`, where every target has its own winner.
- `worst_case_state(state)`: every candidate's tuning replaced by its normalised worst case over the
  targets, trial by trial: max over targets of (best latency so far / that target's bound), with the
  bound 1.0. A candidate meets every target's bound exactly when that value is <= 1, so the one-target
  machinery (forecasts, ranking, elimination, the endgame, the recommendation) ranks on it unchanged.
  Used for `across_targets: worst`. Forecasting the maximum of several curves by the curve of their
  maximum is an approximation: where one target is tuned less, its best so far is held flat, which
  reads as a plateau of the worst case.
"""

from __future__ import annotations

import dataclasses

from sonar.search.spec import SearchSpec, Target
from sonar.search.state import CandidateState, SearchState

WORST_CASE_BOUND = 1.0  # the bound on latency / target bound


def target_spec(spec: SearchSpec, target: Target) -> SearchSpec:
    """The spec as if `target` were its only target (its bound the objective's)."""
    objective = spec.objective
    if objective.kind == "constraint":
        objective = dataclasses.replace(objective, latency_s=target.latency_s)
    return spec.replace(objective=objective, targets=(target,))


def target_state(state: SearchState, target: Target) -> SearchState:
    """The state as one target sees it (a view: it shares the jobs and decisions, and is not folded into)."""
    return dataclasses.replace(state, spec=target_spec(state.spec, target),
                               candidates={cid: c.on(target.name) for cid, c in state.candidates.items()})


def worst_case_spec(spec: SearchSpec) -> SearchSpec:
    """The spec whose one bound is the normalised worst case's (the targets keep their own)."""
    return spec.replace(objective=dataclasses.replace(spec.objective, latency_s=WORST_CASE_BOUND))


def worst_case_state(state: SearchState) -> SearchState:
    """The state with every candidate's tuning its normalised worst case over the targets."""
    targets = state.spec.targets
    return dataclasses.replace(state, spec=worst_case_spec(state.spec),
                               candidates={cid: worst_case_candidate(c, targets)
                                           for cid, c in state.candidates.items()})


def worst_case_candidate(c: CandidateState, targets: tuple[Target, ...]) -> CandidateState:
    """The candidate with `tuning` its normalised worst case over the targets, trial by trial, as far as
    the most tuned target goes; complete when every target's tuning is. A target tuned less keeps its
    best so far at the later trials: that is what it is known to reach (its tuning may have stopped,
    being within its bound or out of trials to pay for), and its final best can only be lower, so the
    worst case stays an upper bound, and is the measured one at the end. Empty while a target has no
    trial."""
    views = [(c.on(t.name), t.latency_s) for t in targets]
    complete = all(view.tuning_complete for view, _ in views)
    trials = 0 if any(not view.tuning for view, _ in views) else max(len(view.tuning) for view, _ in views)
    tuning = []
    for i in range(trials):
        ratios = [(view.tuning[min(i, len(view.tuning) - 1)], bound) for view, bound in views]
        point, bound = max(ratios, key=lambda pb: pb[0].best_latency_s / pb[1])
        worst = point.best_latency_s / bound
        tuning.append(dataclasses.replace(point, trial=i + 1, latency_s=worst, best_latency_s=worst,
                                          spread_s=point.spread_s / bound))
    return dataclasses.replace(c, tuning=tuning, tuning_complete=complete and bool(tuning))
