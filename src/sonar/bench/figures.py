"""The benchmark README's figures, rendered from the suite and ablation JSON, never typed by hand.

`benchmarks/README.md` holds each figure between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->`;
`sonar bench figures` rewrites those blocks from the JSON files (`make bench-figures` regenerates the
JSON first), and a test checks that the committed README equals what the committed JSON renders.

Every figure is a median over seeds per (table, bound quantile) cell, then a median over cells. The
Pareto block comes from a suite run with `--mode pareto`: no bound (one cell per table), and its
criteria are the hypervolume gap at 1% and 10% and the anytime area.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from sonar.errors import UserError

SPEEDUPS = (("speedup_1pct", "1%"), ("speedup_gap10", "gap <= 10%"), ("speedup_top3", "top 3"),
            ("speedup_best", "exact best"))
PARETO_SPEEDUPS = (("speedup_1pct", "hypervolume gap <= 1%"), ("speedup_gap10", "gap <= 10%"))
BLOCK = re.compile(r"(<!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.S)


def _x(value: float | None) -> str:
    return "inf" if value is None else f"{value:.1f}x"


def _median(values) -> float | None:
    values = [np.inf if v is None else v for v in values]
    return float(np.median(values)) if values else None


def _group(result: dict, synthetic: bool) -> list[dict]:
    tables = result["tables"]
    return [c for c in result["cells"] if tables[c["table"]]["synthetic"] == synthetic]


def _mode(result: dict) -> str:
    return result.get("settings", {}).get("mode", "constraint")


def scoreboard_table(result: dict, *, synthetic: bool) -> str:
    """Methods x criteria, per recommendation rule: medians over (table, bound) cells, failed seeds summed."""
    cells = _group(result, synthetic)
    if not cells:
        return "_no table of this kind in the suite_\n"
    pareto = _mode(result) == "pareto"
    speedups = PARETO_SPEEDUPS if pareto else SPEEDUPS
    header = "| rule | method | " + " | ".join(f"{label} (failed seeds)" for _, label in speedups)
    lines = [header + " | anytime area |", "|" + "---|" * (len(speedups) + 3)]
    by_method: dict[tuple, list[dict]] = defaultdict(list)
    for c in cells:
        by_method[(c["rule"], c["method"])].append(c)
    for (rule, method), group in sorted(by_method.items(), key=lambda kv: (kv[0][0], _order(kv[0][1]))):
        name = f"**{method}**" if method == "sonar" else method
        parts = [f"{_x(_median([c[k] for c in group]))} ({sum(c['failures_' + k] for c in group)})"
                 for k, _ in speedups]
        area = _median([c["anytime_area"] for c in group])
        lines.append(f"| {rule} | {name} | " + " | ".join(parts) + f" | {area:.3f} |")
    seeds = {c["seeds"] for c in cells}
    tables = sorted({c["table"] for c in cells})
    bounds = sorted({c["quantile"] for c in cells if c["quantile"] is not None})
    where = "Pareto mode, no latency bound" if pareto else f"bound quantiles {bounds}"
    lines.append("")
    lines.append(f"{len(tables)} tables x {where}, {'/'.join(map(str, sorted(seeds)))} seeds per cell.")
    return "\n".join(lines) + "\n"


def pareto_block(result: dict) -> str:
    """The Pareto suite: its scoreboard on the measured and on the synthetic tables, and SONAR against
    every peer that handles Pareto mode, table by table."""
    if _mode(result) != "pareto":
        raise UserError(f"the Pareto block needs a suite run with --mode pareto; this JSON is {_mode(result)} mode")
    return ("Measured tables:\n\n" + scoreboard_table(result, synthetic=False)
            + "\nSynthetic tables (modelled, nothing measured):\n\n" + scoreboard_table(result, synthetic=True)
            + "\n" + ahead(result))


def per_table(result: dict, *, criterion: str = "speedup_1pct") -> str:
    """Per measured table and rule: SONAR, the best peer and the best of every method, medians over bounds."""
    cells = _group(result, False)
    if not cells:
        return "_no measured table in the suite_\n"
    from sonar.bench.suite import is_peer

    lines = ["| table | rule | sonar | best peer | best in-house baseline |", "|---|---|---|---|---|"]
    by: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for c in cells:
        by[(c["table"], c["rule"])][c["method"]].append(c[criterion])
    for (table, rule), methods in sorted(by.items()):
        medians = {m: _median(v) for m, v in methods.items()}
        peers = {m: v for m, v in medians.items() if is_peer(m)}
        own = {m: v for m, v in medians.items() if not is_peer(m) and m not in ("sonar", "brute_force")}
        best_peer = max(peers, key=lambda m: _inf(peers[m]), default=None)
        best_own = max(own, key=lambda m: _inf(own[m]), default=None)
        lines.append(f"| {Path(table).name} | {rule} | {_x(medians.get('sonar'))} | "
                     f"{_cell(best_peer, peers)} | {_cell(best_own, own)} |")
    return "\n".join(lines) + "\n"


def ahead(result: dict) -> str:
    cells = "tables" if _mode(result) == "pareto" else "cells"
    lines = [f"| rule | {cells} | SONAR ahead of every peer at 1% | at gap <= 10% |", "|---|---|---|---|"]
    for rule, row in sorted(result["sonar_ahead"].items()):
        if row["cells"]:
            lines.append(f"| {rule} | {row['cells']} | {row['speedup_1pct']:.0%} | {row['speedup_gap10']:.0%} |")
    return "\n".join(lines) + "\n"


def ablation_table(result: dict) -> str:
    """Each rule flipped from where the policy has it: the ratio policy/flipped (> 1: the policy's
    choice pays), the tables it helped/hurt, and the held-out gain had the choice been reversed."""
    policy = result.get("policy", {})
    lines = ["| rule | in the policy | policy / flipped at 1% (tables helped/hurt) | held-out gain if flipped |"
             " at gap <= 10% (helped/hurt) | held-out gain if flipped | the policy's choice pays |",
             "|---|---|---|---|---|---|---|"]
    for rule, by in result["ablation"].items():
        one, ten = by["speedup_1pct"], by["speedup_gap10"]
        if one["contribution"] is None:
            continue
        state = {True: "on", False: "off"}.get(policy.get(rule), "?")
        pays = "yes" if one["earns_place"] and ten["earns_place"] else (
            "mixed" if one["earns_place"] or ten["earns_place"] else "**no**")
        lines.append(f"| {rule} | {state} | {one['contribution']:.3f} ({one['helped']}/{one['hurt']}) |"
                     f" {one['loto_gain']:.3f} | {ten['contribution']:.3f} ({ten['helped']}/{ten['hurt']}) |"
                     f" {ten['loto_gain']:.3f} | {pays} |")
    s = result["settings"]
    lines.append("")
    lines.append(f"{len(s['tables'])} tables x bound quantiles {s['quantiles']}, {s['seeds']} seeds,"
                 f" rules {s['rules']}.")
    return "\n".join(lines) + "\n"


def render(scoreboard: dict, ablation: dict | None, pareto: dict | None = None,
           tables_root: Path | None = None) -> dict[str, str]:
    """The README's blocks; with `tables_root` (where the suite's table paths resolve) also the oracle's,
    which reads the measured tables themselves."""
    blocks = {"measured": scoreboard_table(scoreboard, synthetic=False),
              "synthetic": scoreboard_table(scoreboard, synthetic=True),
              "per-table": per_table(scoreboard), "ahead": ahead(scoreboard)}
    if ablation is not None:
        blocks["ablation"] = ablation_table(ablation)
    if pareto is not None:
        blocks["pareto"] = pareto_block(pareto)
    if tables_root is not None:
        blocks["oracle"] = oracle_block(scoreboard, pareto, tables_root)
    return blocks


def oracle_block(scoreboard: dict, pareto: dict | None, root: Path) -> str:
    """Per measured table of the suite JSON, the oracle's speedup (sonar.bench.oracle) next to SONAR's and
    the best peer's (completed rule; medians over the suite's bounds, each cell a median over seeds)."""
    from sonar.bench.oracle import constraint_oracle, pareto_oracle
    from sonar.bench.regret import objective_from_table
    from sonar.bench.suite import is_peer
    from sonar.bench.table import load_table

    lines = ["| table | criterion | oracle | sonar | sonar / oracle | best peer |", "|---|---|---|---|---|---|"]
    for name in (name for name, info in scoreboard["tables"].items() if not info["synthetic"]):
        path = root / name
        if not path.is_file():
            raise UserError(f"{path}: the suite's table is missing; the oracle reads every measured table")
        table = load_table(path)
        brute = table.brute_force_seconds
        oracle: dict[str, list[float]] = {}
        for q in scoreboard["settings"]["quantiles"]:
            objective = objective_from_table(table, mode="constraint", latency_limit_quantile=q)
            for criterion, cell in constraint_oracle(table, objective).items():
                oracle.setdefault(criterion, []).append(cell.speedup(brute))
        rows = [(label, _median(oracle[key]), _completed_medians(scoreboard, name, f"speedup_{key}"))
                for key, label in (("1pct", "regret <= 1%"), ("gap10", "gap <= 10%"), ("best", "exact best"))]
        if pareto is not None and name in pareto["tables"]:
            cells = pareto_oracle(table, objective_from_table(table, mode="pareto"))
            rows.append(("Pareto, hypervolume gap <= 1%", cells["1pct"].speedup(brute),
                         _completed_medians(pareto, name, "speedup_1pct")))
        for label, best, methods in rows:
            sonar = methods.get("sonar")
            peers = {m: v for m, v in methods.items() if is_peer(m)}
            peer = max(peers, key=lambda m: peers[m], default=None)
            share = f"{sonar / best:.0%}" if sonar is not None and best > 0 else "-"
            lines.append(f"| {Path(name).name} | {label} | {best:.1f}x | {'-' if sonar is None else _x(sonar)} | "
                         f"{share} | {_cell(peer, peers)} |")
    return "\n".join(lines) + "\n"


def _completed_medians(result: dict, table: str, key: str) -> dict[str, float]:
    """Per method, the median over the table's cells (its bounds) under the completed rule."""
    by: dict[str, list[float]] = defaultdict(list)
    for c in result["cells"]:
        if c["table"] == table and c["rule"] == "completed" and key in c:
            by[c["method"]].append(c[key])
    return {m: _median(v) for m, v in by.items()}


def rewrite(text: str, blocks: dict[str, str]) -> str:
    """`text` with each figure block's body replaced; a block the README lacks is an error."""
    found = {m.group("name") for m in BLOCK.finditer(text)}
    missing = sorted(set(blocks) - found)
    if missing:
        raise UserError(f"README has no figure blocks {missing}: add <!-- figures:NAME --> ... <!-- /figures:NAME -->")
    return BLOCK.sub(lambda m: m.group(1) + blocks.get(m.group("name"), m.group("body")) + m.group(4), text)


def _order(method: str) -> tuple:
    return (method != "sonar", method)


def _inf(value: float | None) -> float:
    return np.inf if value is None else value


def _cell(name: str | None, medians: dict) -> str:
    return "-" if name is None else f"{name} {_x(medians[name])}"
