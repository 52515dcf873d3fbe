"""The policy's `fastest_first` rule, as functions of a rung scheduler (base.py), as screening.py is.

    probing:     constraint mode, one target, and a rung-0 trial priced (from the jobs done) at no more
                 than rung 0's steps, so measuring every candidate's first configuration costs no more
                 than the rung-0 training it orders.
    then:        a started candidate runs its rung-0 trials before its rung-0 steps (the probe), and its
                 training waits (`probe_holds`) until nothing is left to start; then the waiting
                 candidates are released one per free worker, the fastest measured first (`released`).

Why: the first configuration's latency is the one thing known about a candidate before it trains, and
on measured tables the fastest candidates are the likeliest to meet the bound and the cheapest to
train, so the first finished candidates come early. Nothing is stopped on a probe (a tuning sweep can
gain tens of times over its first configuration): every candidate still trains at rung 0, in another
order. Where trials cost more than rung 0's steps, as on synthetic tables whose tuning is dear, the
probes would cost more than they save, and the rule stands aside.
"""

from __future__ import annotations

from sonar.search.records import Decision
from sonar.search.state import ACTIVE, CandidateState, SearchState

RELEASE_REASON = "probed: the fastest first configuration trains first"


def probing(scheduler) -> bool:
    """The rule is in force: on, constraint mode, one target, and rung 0's trials priced no dearer than its steps."""
    return (scheduler.rules.fastest_first and scheduler.spec.objective.kind == "constraint" and not scheduler.multi
            and scheduler.trial_cost is not None and scheduler.tuning_pays(0))


def probes_first(scheduler, c: CandidateState) -> bool:
    """A candidate not yet trained runs its rung-0 trials before its rung-0 steps."""
    return probing(scheduler) and c.rung == 0 and c.steps_done() == 0


def probe_holds(scheduler, state: SearchState, c: CandidateState) -> bool:
    """A probed candidate's rung-0 training waits for its release."""
    if not probes_first(scheduler, c) or c.status != ACTIVE:
        return False
    if c.trials_done() < scheduler.ladder[0][1] and not c.tuning_complete:
        return False  # still probing: its tune job gates the training (base.tunes_first)
    return not any(d.candidate == c.id and d.action == "release" for d in state.decisions)


def released(scheduler, state: SearchState, gated: list[CandidateState], slots: int) -> list[Decision]:
    """With nothing left to start, the held candidates whose training goes next: one per free worker,
    the lowest measured latency first (a failed probe last; ties by id)."""
    if slots <= 0:
        return []
    held = [c for c in gated if probe_holds(scheduler, state, c)]
    held.sort(key=lambda c: (c.best_latency(), c.id))  # no finite latency measured: inf, so last
    return [Decision(candidate=c.id, action="release", rung=0, reason=RELEASE_REASON) for c in held[:slots]]


def unreleased(scheduler, state: SearchState, gated: list[CandidateState]) -> list[Decision]:
    """With the cost budget spent, the held candidates will never train: they stop, as waiting ones do."""
    return [Decision(candidate=c.id, action="stop", rung=0, reason="cost budget spent")
            for c in gated if probe_holds(scheduler, state, c)]
