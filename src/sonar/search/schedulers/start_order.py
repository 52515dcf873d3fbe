"""The policy's `learned_starts` rule: which architecture a new candidate gets, learned from those started.

    in force:  rule on, constraint mode, one target, and at least MIN_FITTED started candidates with a
               finite central forecast of final loss (the scheduler's own `point`, as ranking uses)
    fit:       ridge regression, on standardised features, of those forecasts on the architecture:
                   features(m) = [log active params, log total params, log layers, log hidden size,
                                  log routed experts, experts per token]
    start n:   even n: the unstarted architecture of the pool with the lowest predicted final loss
               odd n:  the next unstarted architecture in the sampler's order (a random draw)

Why: without it candidates start in the sampler's random order, and nothing the search learns moves a
good architecture forward; on the GPU table the best candidate was the 52nd of 64 started in one seed,
so finding it cost every earlier candidate's rung 0. Where final loss follows the architecture (size,
experts), the model finds the region that does well sooner, as BOHB's model does over configurations.
Every other start stays a random draw (BOHB keeps a random fraction for the same reason): a model fitted
on a few forecasts can be wrong, and a random half keeps the search from following it alone. The rule
only reorders starts; every candidate of the pool still starts while the budget lasts.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from sonar.model.config import ModelConfig
from sonar.search.latency_model import features as size_features
from sonar.search.records import Decision
from sonar.search.state import SearchState, candidate_index

MIN_FITTED = 6  # forecasts before the model chooses anything
PENALTY = 1.0  # ridge penalty on standardised features: a few points, six features
LEARNED_REASON = "new candidate: the lowest predicted final loss"
DRAWN_REASON = "new candidate"


def learning(scheduler) -> bool:
    return (scheduler.rules.learned_starts and scheduler.spec.objective.kind == "constraint"
            and not scheduler.multi)


def features(model: ModelConfig) -> tuple[float, ...]:
    """The latency model's size features (less its intercept), then the experts."""
    return (*size_features(model)[1:], math.log(max(model.num_local_experts, 1)), float(model.num_experts_per_tok))


def fit(x_NF: np.ndarray, y_N: np.ndarray):
    """Ridge regression on standardised features; returns the predictor of y for a row of features."""
    mean_F, std_F = x_NF.mean(0), x_NF.std(0)
    std_F[std_F == 0] = 1.0  # a feature every point shares carries nothing
    z_NF = (x_NF - mean_F) / std_F
    centre = y_N.mean()
    w_F = np.linalg.solve(z_NF.T @ z_NF + PENALTY * np.eye(z_NF.shape[1]), z_NF.T @ (y_N - centre))
    return lambda x_F: float(((np.asarray(x_F) - mean_F) / std_F) @ w_F + centre)


def unstarted(pool: list[ModelConfig], state: SearchState) -> list[ModelConfig]:
    """The pool's architectures no started candidate has, in the sampler's order (a pool may repeat one)."""
    used = Counter(c.model for c in state.candidates.values())
    left = []
    for model in pool:
        if used[model] > 0:
            used[model] -= 1
        else:
            left.append(model)
    return left


def chosen_starts(scheduler, state: SearchState, pool: list[ModelConfig], ids: list[str]) -> list[Decision]:
    """Start decisions for candidates `ids` (the next ones), each carrying the architecture chosen for it."""
    left = unstarted(pool, state)
    points = [(features(c.model), scheduler.point(c).loss.mid) for c in state.candidates.values() if c.curve]
    points = [(x, y) for x, y in points if math.isfinite(y)]
    predict = fit(np.array([x for x, _ in points]), np.array([y for _, y in points])) \
        if len(points) >= MIN_FITTED else None
    decisions = []
    for candidate in ids[:len(left)]:
        learned = predict is not None and candidate_index(candidate) % 2 == 0
        model = min(left, key=lambda m: predict(features(m))) if learned else left[0]
        left.remove(model)
        decisions.append(Decision(candidate=candidate, action="start", rung=0,
                                  reason=LEARNED_REASON if learned else DRAWN_REASON, model=model.to_dict()))
    return decisions
