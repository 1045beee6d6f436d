"""report.html for the research commands (phase7, walkforward, sweep, cycle): the figures a
researcher looks at, in one self-contained page each (plotly.js inlined once, opens offline)."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adaptrade.reports.html import CSS, _figure
from adaptrade.reports import plotly_html
from adaptrade.reports.html_tables import SORT_JS, html_table

ANNUAL = math.sqrt(252.0)  # per-day Sharpe -> annualised, for display


def _page(title: str, notes: list[str], figs: list[dict[str, Any]], tables: str, path: Path) -> Path:
    """Write one page: title, notes, figures, then tables (the first table with id=ranking sorts by its headers)."""
    config = {"responsive": True, "displaylogo": False}
    divs = [plotly_html.figure_div(f, config, include_plotlyjs=(k == 0)) for k, f in enumerate(figs)]
    intro = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{CSS}</style></head>'
            f"<body>\n<h1>{html.escape(title)}</h1>{intro}\n" + "\n".join(divs) + f"\n{tables}\n{SORT_JS}</body></html>\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _bars(names: list[str], groups: dict[str, list[float]], title: str, pct: bool = True, colors: tuple[str, ...] = ("#1f77b4", "#7f7f7f", "#ff7f0e")) -> dict[str, Any]:
    """Grouped bars: one group per name, one bar per series."""
    traces = [{"type": "bar", "name": k, "x": names, "y": [None if not np.isfinite(v) else float(v) for v in vals],
               "marker": {"color": colors[i % len(colors)]}} for i, (k, vals) in enumerate(groups.items())]
    return _figure(traces, title, height=360, barmode="group", hovermode="closest", xaxis={"type": "category"},
                   yaxis={"tickformat": ".0%" if pct else ".2f"})


def sweep_report(trials: pd.DataFrame, deflated: dict[str, Any], path: Path, history: dict[str, Any] | None = None) -> Path:
    """The distribution of the trials' Sharpe ratios with the deflated threshold (expected best of N unskilled) marked."""
    ok = trials[trials["ok"].astype(bool) & trials["distinct"].astype(bool)] if "distinct" in trials else trials[trials["ok"].astype(bool)]
    sr = ok["excess_sharpe"].to_numpy(dtype=np.float64) * ANNUAL
    sr = sr[np.isfinite(sr)]
    sr0 = float(deflated.get("sr0", float("nan"))) * ANNUAL
    best = float(np.max(sr)) if sr.size else float("nan")
    shapes = [{"type": "line", "x0": v, "x1": v, "yref": "paper", "y0": 0, "y1": 1, "line": {"color": c, "dash": d}}
              for v, c, d in ((sr0, "#d62728", "dash"), (best, "#2ca02c", "dot")) if np.isfinite(v)]
    notes_ann = [{"x": v, "yref": "paper", "y": y, "text": t, "showarrow": False, "font": {"color": c}}
                 for v, t, c, y in ((sr0, f"deflated threshold SR0 {sr0:.2f}", "#d62728", 1.02), (best, f"best {best:.2f}", "#2ca02c", 1.09))
                 if np.isfinite(v)]
    fig = _figure([{"type": "histogram", "x": sr.tolist(), "nbinsx": min(60, max(10, sr.size // 3)), "name": "trials",
                    "marker": {"color": "#1f77b4"}}],
                  f"Sharpe ratio (annualised, vs buy & hold) of {sr.size} distinct configurations", height=380,
                  hovermode="closest", xaxis={"type": "linear", "title": {"text": "excess Sharpe (annualised)"}},
                  yaxis={"title": {"text": "trials"}}, shapes=shapes, annotations=notes_ann)
    notes = [f"DSR of the best trial: {deflated.get('dsr', float('nan')):.3f} (needs > 0.95 to count as an edge); "
             f"SR0 = expected best Sharpe of {deflated.get('n_trials')} unskilled configurations; "
             f"{deflated.get('failed_trials', 0)} failed trials."]
    if history and isinstance(history, dict) and history.get("dsr") is not None:
        notes.append(f"Counting every trial recorded before as well: DSR {history['dsr']:.3f} over {history.get('n_trials')} trials.")
    cols = [c for c in ("trial", "strategy", "rsi_period", "buy", "sell", "mean_return", "mean_buy_hold", "mean_sharpe",
                        "excess_sharpe", "beat_buy_hold_share", "trades", "ok", "error") if c in trials.columns]
    table = "<h2>Every trial</h2>" + html_table(trials[cols].sort_values("excess_sharpe", ascending=False, na_position="last"), "ranking")
    return _page("adaptrade sweep report", notes, [fig], table, path)


def cycle_report(tab: pd.DataFrame, path: Path, verdict: str) -> Path:
    """Selected vs unselected (the placebo) per cycle: mean return and Sharpe, and the random-selection percentile."""
    names = [f"cycle {r.cycle} {r.start}..{r.end}" for r in tab.itertuples(index=False)]
    figs = [
        _bars(names, {"selected": tab["selected_mean_return"].tolist(), "unselected (placebo)": tab["unselected_mean_return"].tolist()},
              "Mean return out of sample: selected vs unselected stocks, per cycle"),
        _bars(names, {"selected": tab["selected_mean_sharpe"].tolist(), "unselected (placebo)": tab["unselected_mean_sharpe"].tolist()},
              "Mean Sharpe: selected vs unselected, per cycle", pct=False),
    ]
    return _page("adaptrade cycle report", [verdict], figs, "<h2>Per cycle</h2>" + html_table(tab, "ranking"), path)


def walkforward_figures(wf: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """In-sample vs out-of-sample mean return (and buy & hold) per window."""
    rows = wf["windows"]
    names = [f"w{r['window']} OOS {r['oos_start']}..{r['oos_end']}" for r in rows]
    return [_bars(names, {"in-sample return": [float(r["is_mean_return"]) for r in rows],
                          "out-of-sample return": [float(r["oos_mean_return"]) for r in rows],
                          "out-of-sample buy & hold": [float(r["oos_mean_buy_hold"]) for r in rows]},
                  f"{label}: in-sample vs out-of-sample mean return per window", colors=("#9ecae1", "#1f77b4", "#7f7f7f"))]


def walkforward_report(docs: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """One page for every walk-forward mode run: bars per window, the windows table, the verdicts."""
    figs, tables, notes = [], [], []
    for mode, wf in docs.items():
        figs += walkforward_figures(wf, f"walk-forward ({mode})")
        notes.append(f"{mode}: {wf['out_of_sample']['verdict']['verdict']}")
        tables.append(f"<h2>Windows ({html.escape(mode)})</h2>" + html_table(pd.DataFrame(wf["windows"])))
    return _page(title, notes, figs, "\n".join(tables), path)


def phase7_report(doc: dict[str, Any], path: Path) -> Path:
    """The seed's table beside the measured one, then in-sample vs out-of-sample bars per source and mode."""
    from adaptrade.reports.research import seed_table

    cols, rows = seed_table(doc)
    head = "<th>metric</th><th>seed</th>" + "".join(f"<th>{html.escape(s)}<br>{html.escape(v)}</th>" for s, v in cols)
    body = "".join(f"<tr><th>{html.escape(label)}</th><td>{html.escape(seed)}</td>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
                   for label, seed, cells in rows)
    table = f'<h2>The seed\'s figures vs measured</h2><table id="seed">{body and f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"}</table>'
    figs, notes = [], [f"seed: {doc.get('seed_note', '')}"]
    for s in doc["sources"]:
        for v in s["variants"]:
            notes.append(f"{s['source']} {v['variant']}: {v['portfolio']['verdict']}")
        for mode, wf in s.get("walk_forward", {}).items():
            figs += walkforward_figures(wf, f"{s['source']} walk-forward ({mode})")
    return _page("adaptrade experiment phase7 report", notes, figs, table, path)


def regimes_figure(grid: pd.DataFrame, real: pd.DataFrame) -> dict[str, Any]:
    """Sharpe (top) and win rate (bottom) against VR(5), one series per variant; real stocks' VR(5) as ticks; seed lines."""
    traces: list[dict[str, Any] | None] = []
    for k, name in enumerate(dict.fromkeys(grid["variant"])):
        g = grid[grid["variant"] == name].sort_values("vr5")
        color = ("#1f77b4", "#d62728", "#9467bd")[k % 3]
        text = [f"half-life {h:g} d, OU {s:g}x" for h, s in zip(g["half_life"], g["ou_size"])]
        traces.append({"type": "scatter", "mode": "markers", "name": f"Sharpe, {name}", "x": g["vr5"].tolist(), "y": g["mean_sharpe"].tolist(),
                       "text": text, "marker": {"color": color, "size": 8}})
        traces.append({"type": "scatter", "mode": "markers", "name": f"win rate, {name}", "x": g["vr5"].tolist(), "y": g["win_rate"].tolist(),
                       "text": text, "yaxis": "y2", "marker": {"color": color, "size": 8, "symbol": "diamond-open"}})
    traces.append({"type": "scatter", "mode": "markers", "name": "real NASDAQ-100 stocks (VR(5))", "x": real["vr5"].tolist(),
                   "y": [0.0] * len(real), "yaxis": "y3", "text": real["symbol"].tolist(),
                   "marker": {"color": "#2ca02c", "symbol": "line-ns-open", "size": 14}})
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": 3.8, "y1": 3.8, "line": {"dash": "dash", "color": "#555"}},
              {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y2", "y0": 0.93, "y1": 0.93, "line": {"dash": "dash", "color": "#555"}}]
    return _figure(traces, "Sharpe and win rate vs VR(5) per grid cell (dashed: the seed's Sharpe 3.8 and 93% win rate)", height=700,
                   hovermode="closest", xaxis={"type": "linear", "anchor": "y3", "title": {"text": "VR(5): 5-day variance ratio (1 = random walk); green ticks: real stocks"}},
                   yaxis={"domain": [0.55, 1.0], "title": {"text": "mean Sharpe"}},
                   yaxis2={"domain": [0.15, 0.5], "title": {"text": "mean win rate"}, "tickformat": ".0%", "gridcolor": "#eee"},
                   yaxis3={"domain": [0.0, 0.08], "showticklabels": False, "title": {"text": "real"}},
                   shapes=shapes)
