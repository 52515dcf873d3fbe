"""A parsed spec against what it will run on: the candidates it draws, the corpus and tokenizer it reads,
the workloads it times. parse_spec runs these last, so a spec whose parts are each valid but do not fit
together (a rule no draw satisfies, a row longer than a candidate reads, a memory bound below every
candidate) fails before any compute, naming the key to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sonar.errors import UserError
from sonar.search.arch_space import rule_key
from sonar.search.expr import ExpressionError
from sonar.search.space import sample_architectures
from sonar.search.spec_fields import SpecError, key_path
from sonar.search.spec_training import BUILTIN_NAMES, SyntheticSettings, check_corpus_readable, check_vocab_fit
from sonar.search.system_space import workload_text

if TYPE_CHECKING:
    from sonar.search.spec import SearchSpec


def check_against_inputs(spec: SearchSpec) -> None:
    """Every check of this module a parse runs: the candidates drawn, the failing ids and memory bound
    against them, and the data (the real backend's corpus and tokenizer, or a corpus named explicitly)."""
    candidates = _candidates(spec)
    _check_failing_ids(spec, len(candidates))
    _check_memory_bound(spec, candidates)
    if spec.backend == "real":
        check_real_inputs(spec)
    elif spec.data["corpus"] not in BUILTIN_NAMES:  # a corpus named explicitly is checked whatever the backend
        check_corpus_readable(spec.data, _corpus_key(spec))


# The synthetic backend computes and stores every evaluation of a curve and every tuning trial, microseconds
# each: a budget the real backend would spend days on fills the disk in minutes (1e9 steps, eval_every 10:
# 1e8 points) or never ends (each trial looks back over all before it).
MAX_SYNTHETIC_POINTS = 100_000
MAX_SYNTHETIC_TRIALS = 10_000


def check_synthetic_size(spec: SearchSpec) -> None:
    """That the synthetic backend's curves stay a size it can write: budget.max_steps / synthetic.eval_every
    evaluations and budget.max_trials trials per candidate. The CLI runs it for a search on the synthetic
    backend (the spec's or a `--backend synthetic` override); a replay, whose trainer reads a table, does not."""
    every = int(spec.synthetic.get("eval_every", SyntheticSettings.eval_every))
    points = spec.budget.max_steps // every
    if points > MAX_SYNTHETIC_POINTS:
        raise SpecError(f"budget.max_steps: {spec.budget.max_steps:,} with synthetic.eval_every {every:,} is "
                        f"{points:,} evaluations per candidate; the synthetic backend writes at most "
                        f"{MAX_SYNTHETIC_POINTS:,} (lower budget.max_steps or raise synthetic.eval_every)")
    if spec.budget.max_trials > MAX_SYNTHETIC_TRIALS:
        raise SpecError(f"budget.max_trials: {spec.budget.max_trials:,} trials per candidate; the synthetic backend "
                        f"runs at most {MAX_SYNTHETIC_TRIALS:,}")


def check_real_inputs(spec: SearchSpec) -> None:
    """What the real backend reads before its first job: a readable corpus, and a tokenizer whose
    vocabulary every candidate embeds. parse_spec runs it for `backend: real`; a caller that switches
    a spec to the real backend afterwards (a `--backend real` override) runs it itself."""
    check_corpus_readable(spec.data, _corpus_key(spec))
    candidates = _candidates(spec)
    check_vocab_fit(spec.data, candidates, spec.arch.base_config().vocab_size)
    _check_workloads_fit(spec, candidates)
    _check_seq_len_fits(spec, candidates)


def _check_seq_len_fits(spec: SearchSpec, candidates: list) -> None:
    """That every candidate reads the rows it trains on (training.seq_len and each stage's): past
    max_position_embeddings the model was never meant to read, and `sonar train` refuses the same."""
    from sonar.search.backends import train_config

    config = train_config(spec)
    lengths = [("training.seq_len", config.seq_len)] + [
        (f"training.stages[{i}].seq_len", stage.seq_len) for i, stage in enumerate(config.stages)]
    for where, seq_len in lengths:
        for candidate in candidates:
            if seq_len > candidate.max_position_embeddings:
                raise SpecError(f"{where}: {seq_len:,} tokens per row, but a candidate reads at most "
                                f"{candidate.max_position_embeddings:,} positions (max_position_embeddings)")


def _check_workloads_fit(spec: SearchSpec, candidates: list) -> None:
    """That every candidate reads the positions each target's workload times (its context and decode steps)."""
    from sonar.systems import Workload

    for i, target in enumerate(spec.targets):
        where = "workload" if target.workload is None else f"targets[{i}].workload"
        workload = Workload.parse(workload_text(target.workload or spec.workload))
        for config in candidates:
            try:
                workload.check_fits(config, "a candidate")
            except UserError as err:
                raise SpecError(f"{where}: {err}") from None


def _corpus_key(spec: SearchSpec) -> str:
    """The key the user wrote the corpus under: `data.path` is read as `data.corpus`."""
    return "data.path" if "path" in (spec.raw.get("data") or {}) else "data.corpus"


def _check_failing_ids(spec: SearchSpec, count: int) -> None:
    """`synthetic.fail` names candidates the search draws (c000 .. the last): any other id never fails."""
    from sonar.search.schedulers.base import candidate_id

    ids = {candidate_id(i) for i in range(count)}
    for name in spec.synthetic.get("fail") or {}:
        if name not in ids:
            raise SpecError(f"{key_path('synthetic.fail', name)}: no such candidate; this search draws {count} "
                            f"({candidate_id(0)} to {candidate_id(count - 1)})")


def _check_memory_bound(spec: SearchSpec, candidates: list) -> None:
    """That some candidate can meet `objective.memory_bytes`: the search reads a candidate's memory as its
    weights at 4 bits (RungScheduler.memory), known before any job, so a bound below every candidate's
    would run the whole budget for nothing."""
    from sonar.search.schedulers.forecast_bounds import weights_at_4_bits

    bound = spec.objective.memory_bytes
    if bound is None or not candidates:
        return
    smallest = min(weights_at_4_bits(config) for config in candidates)
    if smallest > bound:
        shown = f"{int(bound):,}" if bound == int(bound) else f"{bound:,}"
        raise SpecError(f"objective.memory_bytes: {shown} B is below every candidate's weights at 4 bits "
                        f"(the smallest needs {smallest:,.0f} B), so no candidate could meet it; raise it to at "
                        f"least {smallest:,.0f}")


def _candidates(spec: SearchSpec) -> list:
    """Every candidate the search will draw (the scheduler asks for the same, from the same cache), so
    an unsatisfiable space or a rule that breaks a limit on some draw fails here, before any compute."""
    try:
        return sample_architectures(spec.arch, seed=spec.seed, count=spec.budget.candidates)
    except ExpressionError as err:
        raise SpecError(f"{rule_key(spec.arch, err.text)}: {err}") from None
    except SpecError:
        raise
    except UserError as err:
        raise SpecError(f"arch: {err}") from None
