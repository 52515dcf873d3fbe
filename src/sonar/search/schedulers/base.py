"""The rung machinery every scheduler shares: a ladder of (steps, trials) budgets, asynchronous
promotion by rank (ASHA), optional elimination by forecast bounds, and draining at the end.

A scheduler holds no search state: `decide` and `next_jobs` read only the SearchState folded from
the recorded events, so a restart or a second process decides the same.
"""

from __future__ import annotations

import math
import zlib
from typing import Protocol

from sonar.search.latency_model import LatencyModel
from sonar.search.long_context import breaks, measures_at
from sonar.search.objective import Point, eliminated, pareto_front, rank
from sonar.search.population import LadderRatios, RemainingRatios
from sonar.search.records import Decision, Job
from sonar.search.schedulers.costs import trial_cost_in_steps
from sonar.search.schedulers.endgame import drain
from sonar.search.schedulers.forecast_bounds import (
    cached_latency_forecast,
    cached_loss_forecast,
    hopeful_low,
    latency_by_trials,
    measured_forecast,
    recentred,
    screened,
    weights_at_4_bits,
    within,
)
from sonar.search.schedulers.loss_order import held_back, outranked, trained_through
from sonar.search.schedulers.policy import SONAR_RULES, Rules
from sonar.search.schedulers.pooled_forecast import fit_rung_predictors, pooled, pooling
from sonar.search.schedulers.probe_order import PRIOR_GAIN, probe_holds, probes_first, reach, released, unreleased
from sonar.search.schedulers.screening import feasible, screened_out, screens
from sonar.search.schedulers.start_order import chosen_starts, learning
from sonar.search.schedulers.targets import (
    each_target_drain,
    each_target_eliminations,
    each_target_top,
    per_target_schedulers,
    tune_jobs,
)
from sonar.search.space import sample_architectures
from sonar.search.state import ACTIVE, FAILED, FINISHED, CandidateState, SearchState
from sonar.search.target_views import worst_case_spec, worst_case_state


class Scheduler(Protocol):
    name: str

    def decide(self, state: SearchState) -> list[Decision]: ...

    def next_jobs(self, state: SearchState) -> list[Job]: ...




def geometric_ladder(low: int, high: int, eta: int, rungs: int) -> list[int]:
    return [min(high, max(1, round(low * eta**k))) for k in range(rungs)]


def candidate_id(index: int) -> str:
    return f"c{index:03d}"


class RungScheduler:
    """ASHA over a ladder of joint budgets. Subclasses set the ladder and the knobs below."""

    name = "rungs"
    default_rules: Rules = SONAR_RULES  # policy.py: what each rule does; a spec's `rules:` overrides them
    loss_only_below: int = 0  # rungs below this rank on loss alone (sequential's training phase)
    promote_all_from: int | None = None  # from this rung on, every survivor is promoted
    respects_cost_budget = True
    # derived from the state once per call of decide or next_jobs (see _refit), never carried across calls
    population: tuple | None = None
    trial_cost: float | None = None
    latency_model: LatencyModel | None = None
    probe_reach: float = PRIOR_GAIN  # probe_order.py: the gain a sweep may still make over its first trial
    rung_predictors: dict | None = None  # pooled_forecast.py: rung -> later loss predicted across candidates

    def __init__(self, spec) -> None:
        # Several targets (targets.py): each target is scheduled by a copy of this scheduler that sees
        # only that target's tuning and bound; `worst` ranks on the normalised worst case over targets.
        self.multi = len(spec.targets) > 1
        self.worst = self.multi and spec.objective.across_targets == "worst"
        self.names_target = False  # whether tune job ids name their target (a per-target copy's do)
        self.per_target: dict | None = None  # target name -> (copy, state view), refit with the rest
        self.spec = worst_case_spec(spec) if self.worst else spec
        self.rules = self.default_rules.overridden(getattr(spec, "rules", None) or {})
        # A tuning curve can fall steeply at its end (compiled configurations come after the eager
        # sweep), so its own extrapolation is no optimistic bound there.
        self.late_gains = self.rules.late_gain_bound and any(
            mode != "eager" for mode in spec.system.get("compiles", ["eager"]))
        self.ladder = self.build_ladder()
        if self.ladder[-1] != (spec.budget.max_steps, self.ladder[-1][1]):
            raise ValueError(f"{self.name}: the last rung must reach max_steps, got {self.ladder[-1]}")

    def build_ladder(self) -> list[tuple[int, int]]:
        b, eta = self.spec.budget, self.spec.eta
        rungs = 1 + max(math.ceil(math.log(b.max_steps / b.min_steps, eta) - 1e-9),
                        math.ceil(math.log(b.max_trials / b.min_trials, eta) - 1e-9))
        steps = geometric_ladder(b.min_steps, b.max_steps, eta, rungs)
        trials = geometric_ladder(b.min_trials, b.max_trials, eta, rungs)
        return list(zip(steps, trials, strict=True))

    # --- the two required methods ---------------------------------------------------------------------
    def decide(self, state: SearchState) -> list[Decision]:
        state = worst_case_state(state) if self.worst else state
        self._refit(state)
        busy = state.busy_candidates()
        last = len(self.ladder) - 1
        waiting = [c for c in state.candidates.values()
                   if c.status == ACTIVE and c.id not in busy and state.rung_complete(c)]
        # tuned first, training held back; tuning held back for those with lower final losses; or probed,
        # training held until its turn (probe_order.py)
        gated = [c for c in waiting
                 if self.wanted_jobs(state, c) or held_back(self, state, c) or probe_holds(self, state, c)]
        idle = [c for c in waiting if c not in gated]
        decisions = [Decision(candidate=c.id, action="finish", rung=c.rung, reason="reached the last rung")
                     for c in idle if c.rung == last]
        idle = [c for c in idle if c.rung < last]
        decisions += self._long_context_stops(idle + gated)
        decisions += [Decision(candidate=c.id, action="stop", rung=c.rung,
                               reason="no configuration meets the bounds (whole sweep measured)")
                      for c in idle + gated
                      if (c.rung < last or self.rules.stop_swept_finalists) and screened_out(self, c)]
        decisions += [Decision(candidate=c.id, action="stop", rung=c.rung,
                               reason="a finalist with a lower final loss meets the bounds")
                      for c in gated if outranked(self, state, c)]
        decided = {d.candidate for d in decisions}
        idle, gated = [c for c in idle if c.id not in decided], [c for c in gated if c.id not in decided]
        if self.rules.eliminate and (idle or gated):
            reasons = self.eliminations(state, idle + gated)
            decisions += [Decision(candidate=c.id, action="stop", rung=c.rung, reason=reasons[c.id])
                          for c in idle + gated if c.id in reasons]
        decided = {d.candidate for d in decisions}
        idle = [c for c in idle if c.id not in decided]
        budget_left = not self.respects_cost_budget or state.spent_s < self.spec.budget.cost_s
        slots = self.spec.executor.workers - len(busy)
        growth = self._promotions(state, idle, slots) if budget_left else []
        decisions += growth
        slots -= len(growth)
        if budget_left:
            starts = self._starts(state, slots)
            decisions += starts
            slots -= len(starts)
            if not starts:
                releases = released(self, state, gated, slots)
                decisions += releases
                slots -= len(releases)
            decisions += trained_through(self, state, idle, decisions, slots)
        if not budget_left:
            decisions += unreleased(self, state, gated)
        if not busy and not any(d.action in ("start", "promote", "release") for d in decisions):
            if self.per_target and not self.worst:
                decisions += each_target_drain(self, idle, budget_left, decisions, state)
            else:
                decisions += drain(self, state, idle, budget_left, decisions)
        return decisions

    def _long_context_stops(self, waiting: list[CandidateState]) -> list[Decision]:
        """Waiting candidates below the last rung whose measured long-context quality breaks the spec's
        bound (long_context.py): no later rung can mend a measurement, so they go now."""
        bound = self.spec.objective.long_context
        if bound is None or not bound.stop_early:
            return []
        return [Decision(candidate=c.id, action="stop", rung=c.rung, reason=reason)
                for c in waiting if (reason := breaks(bound, c.curve))]

    def eliminations(self, state: SearchState, waiting: list[CandidateState]) -> dict[str, str]:
        """Why each waiting candidate cannot be optimal (those that still can are left out). With a
        target per winner, a candidate goes only when no target can use it (every target's bound)."""
        if self.per_target and not self.worst:
            return each_target_eliminations(self, waiting)
        alive = [c for c in state.candidates.values() if c.status in (ACTIVE, FINISHED) and c.curve]
        points = [self.point(c) for c in alive]
        reasons = {}
        for c in waiting:
            reason = eliminated(self.spec.objective, self.point(c), points) if c.curve else None
            if reason:
                reasons[c.id] = reason
        return reasons

    def next_jobs(self, state: SearchState) -> list[Job]:
        """The jobs of each started or promoted rung that were never submitted (each checked on its own,
        so a crash between submitting a rung's two jobs leaves the second to be submitted on resume)."""
        self._refit(state)
        return [job for c in state.candidates.values() if c.status == ACTIVE and c.rung >= 0
                for job in self.wanted_jobs(state, c)]

    def _refit(self, state: SearchState) -> None:
        """What every candidate's decision reads from the whole population, computed once per call rather
        than once per candidate: the rung-to-rung improvement ratios and the price of a trial in steps."""
        self.population = self.fit_population(state)
        self.trial_cost = trial_cost_in_steps(state)
        self.latency_model = self.fit_latency_model(state)
        self.per_target = per_target_schedulers(self, state) if self.multi else None
        self.probe_reach = reach(self, state) if self.rules.defer_far_probes else PRIOR_GAIN
        self.rung_predictors = fit_rung_predictors(self.ladder, state) if pooling(self) else None

    def wanted_jobs(self, state: SearchState, c: CandidateState) -> list[Job]:
        """The current rung's jobs not yet submitted. Where tuning gates training (`tunes_first`), the
        training job waits until the rung's tuning is done, so a candidate its latency rules out is
        stopped before its steps are paid for."""
        steps, _ = self.ladder[c.rung]
        train = None
        if steps > c.steps_done():
            bound = self.spec.objective.long_context
            long = bound.factor if measures_at(bound, c.rung, len(self.ladder)) else None
            train = Job(candidate=c.id, kind="train", rung=c.rung, until=steps, start=c.steps_done(),
                        long_factor=long)
        # the same jobs while they run: trials_done moves only when a job is done
        tunes = tune_jobs(self, c) if self.per_target else [job for job in [self.tune_job(c)] if job is not None]
        if tunes and held_back(self, state, c):
            tunes = []  # and the training, if any, is not held for them
        if train is not None and (any(self.tunes_first(c, tune) for tune in tunes) or probe_holds(self, state, c)):
            train = None
        return [job for job in (train, *tunes) if job is not None and job.id not in state.jobs]

    def tune_job(self, c: CandidateState) -> Job | None:
        """Tuning up to the rung's trial budget. In constraint mode tuning deferred at earlier rungs is
        caught up one ladder budget at a time (each a job of the rung that budget belongs to), so it
        stops as soon as a configuration meets the bound instead of running the whole budget at once."""
        _, trials = self.ladder[c.rung]
        done = c.trials_done()
        screening = screens(self, c)
        if c.tuning_complete or not (screening or (trials > done and self.needs_tuning(c))):
            return None
        rung, until = c.rung, trials
        if screening or (self.rules.catch_up_by_rung and self.spec.objective.kind == "constraint"):
            rung = next(k for k, (_, budget) in enumerate(self.ladder) if budget > done)
            until = self.ladder[rung][1]
        return Job(candidate=c.id, kind="tune", rung=rung, until=until, start=done, target=self.spec.targets[0].name,
                   names_target=self.names_target)

    def tunes_first(self, c: CandidateState, tune: Job) -> bool:
        """Constraint mode: tune before training where the tuning job costs no more than the rung's
        remaining steps."""
        if screens(self, c) or probes_first(self, c):
            return True
        if not self.rules.tune_before_train or self.spec.objective.kind != "constraint" or c.rung == 0:
            return False
        steps, _ = self.ladder[c.rung]
        return self.trial_cost is not None and self.trial_cost * (tune.until - tune.start) <= steps - c.steps_done()

    def needs_tuning(self, c: CandidateState) -> bool:
        """Constraint mode asks only that some configuration meets the bounds: once a measured one does,
        more trials cannot change the candidate's objective value, so its tuning stops there. Below the
        last rung, a rung tunes only while its trials cost no more than its training steps (priced from
        the jobs done): where trials are dear, candidates are screened on loss first and only the
        survivors tuned; where they are cheap, knowing who can meet the bound is cheaper than training
        them blind."""
        objective = self.spec.objective
        if objective.kind != "constraint":
            return True
        if self.rules.tuning_pays and c.rung < len(self.ladder) - 1 and not self.tuning_pays(c.rung):
            return False
        if not self.rules.feasible_stops_tuning:
            return True
        return not feasible(self, c)

    def tuning_pays(self, rung: int) -> bool:
        """The rung's new trials cost no more than its new steps (unpriced: yes, which prices them)."""
        steps, trials = self.ladder[rung]
        before_steps, before_trials = self.ladder[rung - 1] if rung else (0, 0)
        return self.trial_cost is None or self.trial_cost * (trials - before_trials) <= steps - before_steps

    # --- promotion ----------------------------------------------------------------------------------
    def _promotions(self, state: SearchState, idle: list[CandidateState], slots: int) -> list[Decision]:
        decisions = []
        for k in range(len(self.ladder) - 2, -1, -1):
            if slots <= 0:
                break
            waiting = {c.id for c in idle if c.rung == k}
            if not waiting:
                continue
            for cid in self._top_of_rung(state, k):
                if cid in waiting and slots > 0:
                    decisions.append(Decision(candidate=cid, action="promote", rung=k + 1,
                                              reason=f"top 1/{self.spec.eta} of rung {k}"))
                    slots -= 1
        return decisions

    def _top_of_rung(self, state: SearchState, k: int) -> list[str]:
        """Ranked ids of rung k's top floor(n/eta) (everyone from `promote_all_from` on). In Pareto mode
        the rung's whole forecast front goes on too: a fixed fraction would drop front members, and
        the recommended set is scored by the area of the front it recovers."""
        if self.per_target and not self.worst:
            return each_target_top(self, k)
        points = self.rung_points(state, k)
        ranked = self._ranked(points, k)
        if self.promote_all_from is not None and k >= self.promote_all_from:
            return ranked
        top = ranked[: len(ranked) // self.spec.eta]
        if self.spec.objective.kind == "pareto" and self.rules.forecast and self.rules.front_promotion:
            front = set(pareto_front([(p.id, p.loss.mid, p.latency.mid) for p in points]))
            top += [cid for cid in ranked if cid in front and cid not in top]
        return top

    def rung_ranking(self, state: SearchState, k: int) -> list[str]:
        """Every candidate with results at rung k, ranked on its results truncated to rung k's budget."""
        return self._ranked(self.rung_points(state, k), k)

    def _ranked(self, points: list[Point], k: int) -> list[str]:
        return rank(self.spec.objective, points, loss_only=k < self.loss_only_below,
                    hopeful=self.rules.hopeful_feasibility)

    def rung_points(self, state: SearchState, k: int) -> list[Point]:
        """Forecasts of every candidate with results at rung k, truncated to rung k's budget (a candidate
        tuned first and still to train at rung k has no rung-k result yet)."""
        members = [c for c in state.candidates.values()
                   if c.rung > k or (c.rung == k and state.rung_complete(c) and not self.wanted_jobs(state, c))]
        members = [c for c in members if (c.status != FAILED or c.rung > k) and not probe_holds(self, state, c)]
        predict = (self.rung_predictors or {}).get(k)
        if predict is None:
            return [self.point(c, rung=k) for c in members]
        return [pooled(self.point(c, rung=k), predict(c)) for c in members]

    def _starts(self, state: SearchState, slots: int) -> list[Decision]:
        pool = sample_architectures(self.spec.arch, seed=self.spec.seed, count=self.spec.budget.candidates)
        started = len(state.candidates)
        ids = [candidate_id(started + i) for i in range(max(0, min(slots, len(pool) - started)))]
        if ids and learning(self):
            return chosen_starts(self, state, pool, ids)
        return [Decision(candidate=i, action="start", rung=0, reason="new candidate") for i in ids]

    # --- forecasts ----------------------------------------------------------------------------------
    def seen(self, c: CandidateState, rung: int | None = None) -> tuple[list, list]:
        """The candidate's curve and tuning trace as far as rung `rung`'s budget (None: all of them)."""
        steps_cap, trials_cap = self.ladder[rung] if rung is not None else (math.inf, len(c.tuning))
        return [p for p in c.curve if p.step <= steps_cap], c.tuning[:trials_cap]

    def point(self, c: CandidateState, rung: int | None = None) -> Point:
        curve, tuning = self.seen(c, rung)
        steps = tuple(p.step for p in curve)
        losses = tuple(p.val_loss if math.isfinite(p.val_loss) else math.inf for p in curve)
        best = tuple(p.best_latency_s for p in tuning)
        spread = tuning[-1].spread_s if tuning else 0.0
        if self.rules.forecast:
            seed = zlib.crc32(f"{self.spec.seed}/{c.id}/{len(steps)}".encode())
            loss = cached_loss_forecast(steps, losses, self.spec.budget.max_steps, seed)
            tuned_out = c.tuning_complete and len(tuning) == len(c.tuning) and bool(best)
            latency = (measured_forecast(best[-1]) if tuned_out
                       else cached_latency_forecast(best, self.spec.budget.max_trials, spread))
            if self.population is not None and self.rules.population_centre:
                loss_ratios, latency_ratios = self.population
                if steps:
                    loss = recentred(loss, loss_ratios.project(steps[-1], losses[-1]))
                if not tuned_out:
                    latency = recentred(latency, latency_ratios.project(len(best), best[-1]) if best else None)
            if self.population is not None and self.late_gains and not tuned_out:
                latency = hopeful_low(latency, self.population[1], best)
            if self.latency_model is not None and not tuned_out:
                latency = screened(latency, self.latency_model.predict(c.model), best)
        else:
            loss = measured_forecast(losses[-1] if losses else math.inf)
            latency = measured_forecast(min(best) if best else math.inf)
        return Point(id=c.id, loss=loss, latency=latency, memory=self.memory(c, tuning),
                     long_breaks=breaks(self.spec.objective.long_context, curve) is not None)

    def hopeful(self, c: CandidateState, rung: int) -> tuple[float, float]:
        """(loss, latency) if the candidate improves from here as the best-improving candidates did,
        kept inside its own forecast bounds; the central forecast where the population cannot say."""
        point = self.point(c, rung=rung)
        curve, tuning = self.seen(c, rung)
        loss, latency = point.loss.mid, point.latency.mid
        if self.population is not None:
            loss_ratios, latency_ratios = self.population
            if curve:
                loss = within(loss_ratios.project(curve[-1].step, curve[-1].val_loss, hopeful=True), point.loss)
            if tuning:
                latency = within(latency_ratios.project(len(tuning), tuning[-1].best_latency_s, hopeful=True),
                                  point.latency)
        return loss, latency

    def fit_population(self, state: SearchState) -> tuple[LadderRatios, RemainingRatios] | None:
        """Rung-to-rung improvement ratios of val loss and best latency over every candidate so far."""
        if not self.rules.forecast:
            return None
        steps = [s for s, _ in self.ladder]
        trials = [t for _, t in self.ladder if t > 0]
        cands = list(state.candidates.values())
        losses = LadderRatios.fit(steps, ({p.step: p.val_loss for p in c.curve} for c in cands))
        latencies = RemainingRatios.fit(trials, (latency_by_trials(c, trials) for c in cands))
        return losses, latencies

    def fit_latency_model(self, state: SearchState) -> LatencyModel | None:
        """Final best latency against size, over every tuned candidate: measured where its tuning has
        finished, else its best so far projected to the end by the population's remaining gain (a
        search stops most sweeps early, so finished ones alone come too late to screen anyone)."""
        if not (self.rules.latency_model and self.rules.forecast and self.spec.objective.kind == "constraint"):
            return None
        models, finals = [], []
        for c in state.candidates.values():
            best = c.best_latency()
            if not c.tuning or not math.isfinite(best):
                continue
            if not (c.tuning_complete or c.trials_done() >= self.spec.budget.max_trials):
                best = self.population[1].project(c.trials_done(), best) if self.population else None
            if best is not None:
                models.append(c.model)
                finals.append(best)
        return LatencyModel.fit(models, finals)

    @staticmethod
    def memory(c: CandidateState, tuning=None) -> float:
        """Bytes at the best trial when the tuner reports them, else the weights at 4 bits (optimistic)."""
        tuning = c.tuning if tuning is None else tuning
        reported = [p.extra["memory_bytes"] for p in tuning if "memory_bytes" in (p.extra or {})]
        return float(min(reported)) if reported else weights_at_4_bits(c.model)

