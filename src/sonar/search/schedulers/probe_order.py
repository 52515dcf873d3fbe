"""The policy's probing rules, `defer_far_probes` and `fastest_first`, as functions of a rung scheduler
(base.py), as screening.py is.

    probing:     constraint mode, one target, and a rung-0 trial priced (from the jobs done) at no more
                 than rung 0's steps, so measuring a candidate's first configuration costs no more than
                 the rung-0 training it may spare.
    then:        a started candidate runs its rung-0 trials before its rung-0 steps (the probe).
    defer_far_probes: a probed candidate whose best latency so far exceeds the bound by more than any
                 finished sweep has gained over its first configuration (`reach`, at least PRIOR_GAIN)
                 is held, untrained; the others train at once. The held ones wait until nothing is left
                 to start, then are released one per free worker, the fastest measured first.
    fastest_first: every probed candidate is held that way, whatever its probe (off in the policy).

Why: the first configuration's latency is the one thing known about a candidate before it trains. On the
measured tables most of the spend before a first good pick went to rung-0 training of candidates whose
probe was tens of times over the bound (cpu-wide-experts: 4.7% of brute force out of 8.7%). Nothing is
stopped on a probe: a sweep can gain tens of times over its first configuration (cpu-byte-128 has three
feasible candidates probed at 42-62x the bound), so a far probe is put off, not dropped, and `reach`
grows as finished sweeps show larger gains. Where trials cost more than rung 0's steps, as on synthetic
tables whose tuning is dear, the probes would cost more than they save, and the rules stand aside.
"""

from __future__ import annotations

import math

from sonar.search.records import Decision
from sonar.search.schedulers.screening import swept
from sonar.search.state import ACTIVE, CandidateState, SearchState

RELEASE_REASON = "probed: the fastest first configuration trains first"
# Before any sweep has finished: how many times faster than its first configuration a sweep is assumed
# able to get. Chosen on cpu-v1, cpu-v2 and ten synthetic tables (2, 4 and 8 measured); see benchmarks/README.md.
PRIOR_GAIN = 4.0


def probing(scheduler) -> bool:
    """A probing rule is in force: on, constraint mode, one target, and rung 0's trials priced no dearer
    than its steps."""
    rules = scheduler.rules
    return ((rules.fastest_first or rules.defer_far_probes) and scheduler.spec.objective.kind == "constraint"
            and not scheduler.multi and scheduler.trial_cost is not None and scheduler.tuning_pays(0))


def probes_first(scheduler, c: CandidateState) -> bool:
    """A candidate not yet trained runs its rung-0 trials before its rung-0 steps."""
    return probing(scheduler) and c.rung == 0 and c.steps_done() == 0


def reach(scheduler, state: SearchState) -> float:
    """The largest gain of a finished sweep's best over its first configuration, at least PRIOR_GAIN."""
    gains = [c.tuning[0].latency_s / c.best_latency() for c in state.candidates.values()
             if c.tuning and swept(scheduler, c) and math.isfinite(c.tuning[0].latency_s)
             and 0 < c.best_latency() < math.inf]
    return max([PRIOR_GAIN, *gains])


def far(scheduler, c: CandidateState) -> bool:
    """Its best latency so far is beyond the bound by more than any sweep has been seen to gain."""
    return not c.best_latency() <= scheduler.probe_reach * scheduler.spec.objective.latency_s


def probe_holds(scheduler, state: SearchState, c: CandidateState) -> bool:
    """A probed candidate's rung-0 training waits for its release."""
    if not probes_first(scheduler, c) or c.status != ACTIVE:
        return False
    if c.trials_done() < scheduler.ladder[0][1] and not c.tuning_complete:
        return False  # still probing: its tune job gates the training (base.tunes_first)
    if any(d.candidate == c.id and d.action == "release" for d in state.decisions):
        return False
    return scheduler.rules.fastest_first or far(scheduler, c)


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
