"""The report of a search: HTML plus PNG figures, drawn from storage alone (matplotlib, Agg)."""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

from sonar.errors import UserError
from sonar.outdir import check_run_dir
from sonar.plotting import pyplot
from sonar.search.results import measured, summary
from sonar.search.state import SearchState
from sonar.search.storage import Storage

plt = pyplot()

FIGURES = ("pareto.png", "curves.png", "budget.png")
PAGE_START = '<!doctype html><html><head><meta charset="utf-8"><title>sonar search: '


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Writes OUT (default DIR/report)/index.html and its figures; the run itself is opened read-only."""
    storage = Storage(run_dir)
    try:
        state = storage.state()
    finally:
        storage.close()
    out = Path(run_dir) / "report" if out is None else Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory; the report is a directory (index.html and PNGs)")
    # The report's files are written beside whatever is there: `--out .`, the home directory, the run itself or
    # a user's folder got index.html and three PNGs among their files (`--out /` wrote into the root).
    check_run_dir(out, holds_run=_holds_only_report, kind="report")
    for name in (*FIGURES, "index.html"):  # else an IsADirectoryError traceback once the figures were drawn
        if (out / name).exists() and not (out / name).is_file():
            raise UserError(f"{out / name}: exists and is not a file, and the report would replace it; move it away"
                            " or give another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        _save(_pareto_figure(state), out / "pareto.png")
        _save(_curves_figure(state), out / "curves.png")
        _save(_budget_figure(state), out / "budget.png")
        _write_atomic(out / "index.html", _html(state))
    except PermissionError as err:
        raise UserError(f"{out}: cannot write the report there ({err.strerror}); "
                        "give a writable directory with --out") from err
    return out / "index.html"


def _holds_only_report(directory: Path) -> bool:
    """An earlier report: nothing but its figures, its page and their temporary files from a failed write.
    The names alone are not enough: a user's own site folder holding an index.html (or a pareto.png) was
    taken for a report, and the user's page replaced by this one."""
    ours = {*FIGURES, "index.html"}
    return all(entry.name in ours and _written_by_report(entry)
               or entry.name.startswith(".") and entry.name.endswith((".tmp", ".tmp.png"))
               for entry in directory.iterdir())


def _written_by_report(path: Path) -> bool:
    """The page starts as _html writes it; a figure is a PNG (savefig's)."""
    if not path.is_file():
        return True  # a folder of that name is refused by name in write_report
    head = PAGE_START.encode() if path.name == "index.html" else b"\x89PNG\r\n\x1a\n"
    try:
        with path.open("rb") as handle:
            return handle.read(len(head)) == head
    except OSError:
        return False


def _save(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _pareto_figure(state: SearchState):
    info = summary(state)
    rows = [r for r in measured(state) if math.isfinite(r.val_loss) and math.isfinite(r.latency_s)]
    front = {p["id"] for p in info["pareto"]}
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for status, marker in (("finished", "o"), ("stopped", "x"), ("active", "."), ("failed", "v")):
        pts = [r for r in rows if r.status == status]
        if pts:
            ax.scatter([r.latency_s * 1e3 for r in pts], [r.val_loss for r in pts], marker=marker, label=status,
                       alpha=0.7)
    on_front = sorted((r for r in rows if r.id in front), key=lambda r: r.latency_s)
    if on_front:
        ax.plot([r.latency_s * 1e3 for r in on_front], [r.val_loss for r in on_front], "k--", lw=1,
                label="Pareto front")
    if info["best"] and math.isfinite(info["best"]["latency_s"]):
        ax.scatter([info["best"]["latency_s"] * 1e3], [info["best"]["val_loss"]], s=200, facecolors="none",
                   edgecolors="red", linewidths=2, label=f"chosen {info['best']['id']}")
    if state.spec.objective.latency_s:
        ax.axvline(state.spec.objective.latency_s * 1e3, color="grey", lw=1, ls=":", label="latency bound")
    ax.set_xscale("log")
    ax.set_xlabel("best latency (ms, log)")
    ax.set_ylabel("val loss (at the candidate's last step)")
    ax.set_title("candidates: val loss against latency")
    ax.legend(fontsize=7)
    return fig


def _curves_figure(state: SearchState):
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for c in state.candidates.values():
        if c.curve:
            line, = left.plot([p.step for p in c.curve], [p.val_loss for p in c.curve], lw=1, alpha=0.8)
            left.scatter([c.curve[-1].step], [c.curve[-1].val_loss], color=line.get_color(),
                         marker="x" if c.status == "stopped" else "o", s=18)
        if c.tuning:
            line, = right.plot([p.trial for p in c.tuning], [p.best_latency_s * 1e3 for p in c.tuning], lw=1,
                               drawstyle="steps-post", alpha=0.8)
            right.scatter([c.tuning[-1].trial], [c.tuning[-1].best_latency_s * 1e3], color=line.get_color(),
                          marker="x" if c.status == "stopped" else "o", s=18)
    left.set(xscale="log", xlabel="training step (log)", ylabel="val loss",
             title="learning curves (x: stopped, o: finished/last)")
    right.set(xscale="log", yscale="log", xlabel="tuning trial (log)", ylabel="best latency so far (ms)",
              title="tuning curves")
    return fig


def _budget_figure(state: SearchState):
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    if state.spend_log:
        t0 = min(t for t, _ in state.spend_log)
        ax.step([t - t0 for t, _ in state.spend_log], [s for _, s in state.spend_log], where="post")
    if math.isfinite(state.spec.budget.cost_s):
        ax.axhline(state.spec.budget.cost_s, color="red", ls=":", label="cost budget")
        ax.legend(fontsize=7)
    ax.set(xlabel="time since the first result (s)", ylabel="job seconds spent", title="budget over time")
    return fig


def _per_target_html(winners: list[dict]) -> str:
    """The winner on each target (the figures and the table show the first target's latency)."""
    rows = "".join(
        f"<tr><td>{html.escape(w['target'])}</td><td>{w['id'] or 'none'}</td>"
        + (f"<td>{w['val_loss']:.4f}</td><td>{w['latency_s'] * 1e3:.3f}</td>"
           f"<td>{html.escape(json.dumps(w['system'], default=str))}</td>" if w["id"] else "<td></td>" * 3)
        + "</tr>" for w in winners)
    fronts = "".join(f"<p>Pareto front on {html.escape(w['target'])} (loss, ms): "
                     + ", ".join(f"{p['id']} ({p['val_loss']:.4f}, {p['latency_s'] * 1e3:.3f})" for p in w["pareto"])
                     + "</p>" for w in winners if w.get("pareto"))
    return ("<h2>Chosen per target</h2><table><tr><th>target</th><th>id</th><th>val loss</th><th>latency ms</th>"
            f"<th>system</th></tr>{rows}</table>{fronts}")


def _placements_html(placements: dict[str, int]) -> str:
    if not placements:
        return ""
    return "<p>jobs ran on: " + ", ".join(f"{html.escape(place)} ({n})" for place, n in placements.items()) + "</p>"


def _long_header(state: SearchState) -> str:
    """The long-context column, present only where the spec bounds long context (long_context.py)."""
    bound = state.spec.objective.long_context
    return "" if bound is None else f"<th>loss {bound.factor}x / 1x</th>"


def _long_cell(state: SearchState, r) -> str:
    if state.spec.objective.long_context is None:
        return ""
    return "<td>-</td>" if r.long_ratio is None else f"<td>{r.long_ratio:.3f}</td>"


def _html(state: SearchState) -> str:
    info = summary(state)
    rows = "".join(
        f"<tr><td>{r.id}</td><td>{r.status}</td><td>{r.rung}</td><td>{r.steps}</td><td>{r.trials}</td>"
        f"<td>{r.val_loss:.4f}</td><td>{r.latency_s * 1e3:.3f}</td>{_long_cell(state, r)}"
        f"<td>{html.escape(r.reason)}</td></tr>" for r in measured(state))
    best = html.escape(json.dumps(info["best"], indent=1, default=str)) if info["best"] else "none yet"
    figures = "".join(f'<p><img src="{name}" alt="{name}"></p>' for name in FIGURES)
    per_target = _per_target_html(info["per_target"]) if len(info["per_target"]) > 1 else ""
    name = html.escape(state.spec.name)
    return f"""{PAGE_START}{name}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}</style></head>
<body><h1>sonar search: {name}</h1>
<p>scheduler <b>{state.spec.scheduler}</b>, objective <b>{state.spec.objective.kind}</b>, state <b>{info['state']}</b>,
{info['jobs_done']} jobs done, {info['jobs_failed']} failed, {info['spent_s']:.1f} job-seconds spent.</p>
{_placements_html(info['placements'])}
<h2>Chosen</h2><pre>{best}</pre>{per_target}{figures}
<h2>Candidates</h2><table><tr><th>id</th><th>status</th><th>rung</th><th>steps</th><th>trials</th>
<th>val loss</th><th>latency ms</th>{_long_header(state)}<th>why</th></tr>{rows}</table></body></html>
"""
