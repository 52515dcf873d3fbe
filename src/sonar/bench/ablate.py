"""`sonar bench ablate`: what each SONAR rule contributes over a suite, judged leave-one-table-out.

The suite replays SONAR's policy as it is, and once with each rule flipped (`sonar-without-RULE` for a
rule the policy uses, `sonar-with-RULE` for one it leaves off), at every (table, bound quantile,
recommendation rule) cell. From those rows, per rule and criterion:

    per cell:    lr = log((1 + median speedup, the policy) / (1 + median speedup, the rule flipped))
                 (1 + ...: a cell both fail scores 0 either way, and a failure costs a finite amount)
    per table:   lr_t = mean of lr over the table's cells
    contribution = exp(mean over tables of lr_t), a geometric mean ratio (> 1: switching it off loses);
                 a mean, not a median: most rules act on few tables, and a median of ties hides them
    helped, hurt = the tables where lr_t > +0.01, < -0.01
    leave-one-table-out: for each table t, the rule is dropped iff the contribution over the other
                 tables is <= 1; the held-out gain of dropping is -lr_t when dropped, else 0
    loto_gain  = exp(mean held-out gain)  (> 1: deciding from the other tables would have helped t)
    earns_place = contribution > 1 and the rule is kept in most leave-one-out folds

A rule that helps only on the tables it was tuned on shows a contribution near 1 and a held-out
gain above 1: dropping it generalises better than keeping it. For a rule the policy leaves off, the
same figures say whether switching it on would pay: a contribution above 1 says it would not. A group
of rules (`A+B`) is flipped and judged as one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from sonar.bench.suite import ABLATED, ADDED, SONAR
from sonar.errors import UserError

CRITERIA = ("speedup_1pct", "speedup_gap10")


def variant(rule: str) -> str:
    """SONAR with `rule` flipped: switched off if the policy has it on, on if the policy has it off. A group
    `A+B` flips its rules together; they must all be on, or all off, in the policy."""
    from sonar.search.schedulers.policy import SONAR_RULES

    names = rule.split("+")
    SONAR_RULES.without(*names)  # unknown names refused here
    states = {getattr(SONAR_RULES, name) for name in names}
    if len(states) > 1:
        raise UserError(f"--switch {rule}: a group flips its rules together, so they must all be on, or all off, "
                        "in the policy")
    return f"{ABLATED if states.pop() else ADDED}{rule}"


def cell_log_ratios(rows: Sequence[dict], rule: str, criterion: str) -> dict[str, list[float]]:
    """table -> the log ratios of its (bound, recommendation rule) cells, the policy against `rule` flipped."""
    flipped = variant(rule)
    seeds: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        if row["method"] in (SONAR, flipped):
            seeds[(row["method"], row["table"], row["quantile"], row["rule"])].append(_finite(row[criterion]))
    per_table: dict[str, list[float]] = defaultdict(list)
    for (method, table, quantile, recommendation), values in sorted(seeds.items()):
        if method != SONAR or (flipped, table, quantile, recommendation) not in seeds:
            continue
        on = float(np.median(values))
        off = float(np.median(seeds[(flipped, table, quantile, recommendation)]))
        per_table[table].append(math.log((1 + on) / (1 + off)))
    return per_table


def rule_report(rows: Sequence[dict], rule: str, criterion: str) -> dict:
    per_table = {t: float(np.mean(v)) for t, v in cell_log_ratios(rows, rule, criterion).items()}
    if not per_table:
        return {"tables": 0, "contribution": None, "loto_gain": None, "kept_folds": None, "earns_place": None}
    tables = sorted(per_table)
    gains, kept = [], 0
    for held_out in tables:
        others = [per_table[t] for t in tables if t != held_out]
        keep = bool(others) and float(np.mean(others)) > 0
        kept += keep
        gains.append(0.0 if keep else -per_table[held_out])
    contribution = math.exp(float(np.mean(list(per_table.values()))))
    return {"tables": len(tables), "contribution": contribution, "loto_gain": math.exp(float(np.mean(gains))),
            "helped": sum(v > 0.01 for v in per_table.values()), "hurt": sum(v < -0.01 for v in per_table.values()),
            "kept_folds": kept / len(tables), "earns_place": contribution > 1 and kept * 2 > len(tables),
            "per_table": {t: math.exp(v) for t, v in per_table.items()}}


def ablation(rows: Sequence[dict], rules: Sequence[str]) -> dict:
    """Per rule and criterion: the contribution, the leave-one-table-out verdict (module docstring)."""
    return {rule: {criterion: rule_report(rows, rule, criterion) for criterion in CRITERIA} for rule in rules}


def _finite(value) -> float:
    return 1e6 if value is None or value == math.inf else float(value)  # null: reached at no cost
