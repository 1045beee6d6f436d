"""The analytics sections of report.html (returns, attribution, tax, drawdowns): the tables of
`adaptrade.analytics` computed from the run's frames in memory (no second backtest, no store),
each table's numbers in data-v attributes exactly as `adaptrade analytics` gives them."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
TOP = 10  # contributors shown at each end


def _cell(v: Any, pct: bool) -> str:
    """A cell with its exact number in data-v (text cells without; a missing number: data-v="")."""
    if v is pd.NA:
        return '<td data-v="">–</td>'
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
        f = float(v)
        if not math.isfinite(f):
            return '<td data-v="">–</td>'
        shown = f"{f:+.2%}" if pct else (f"{f:,.2f}" if abs(f) >= 100 or f != int(f) else f"{int(f):d}")
        return f'<td data-v="{f!r}">{shown}</td>'
    return "<td>–</td>" if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)) else f"<td>{html.escape(str(v))}</td>"


def table(df: pd.DataFrame, tid: str, pct: tuple[str, ...] = ()) -> str:
    """An HTML table of `df` with id `tid`; columns in `pct` shown as percentages."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(_cell(v, c in pct) for c, v in zip(df.columns, r)) + "</tr>"
                   for r in df.itertuples(index=False))
    return f'<table id="{tid}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _heatmap(monthly: pd.DataFrame, title: str) -> dict[str, Any]:
    """Year x month heatmap of the account's monthly returns (the returns_monthly rows)."""
    from adaptrade.reports.html import _figure

    years = sorted({m[:4] for m in monthly["month"]})
    z: list[list[float | None]] = [[None] * 12 for _ in years]
    for m, v in zip(monthly["month"], monthly["ret"]):
        z[years.index(m[:4])][int(m[5:7]) - 1] = float(v) if math.isfinite(v) else None
    text = [["" if v is None else f"{v:+.1%}" for v in row] for row in z]
    vals = [abs(v) for row in z for v in row if v is not None]
    lim = max(vals) if vals else 0.1
    trace = {"type": "heatmap", "name": "monthly return", "x": MONTHS, "y": years, "z": z, "text": text, "texttemplate": "%{text}",
             "hovertemplate": "%{y} %{x}: %{text}<extra></extra>", "colorscale": [[0.0, "#c0392b"], [0.5, "#f7f7f7"], [1.0, "#1e8449"]],
             "zmid": 0.0, "zmin": -lim, "zmax": lim, "colorbar": {"tickformat": ".0%"}}
    return _figure([trace], title, height=max(260, 22 * len(years) + 120), hovermode="closest",
                   xaxis={"type": "category"}, yaxis={"type": "category", "autorange": "reversed"})


def _rolling(daily: pd.DataFrame, who: str) -> dict[str, Any]:
    """Rolling 63/252-day volatility (top) and Sharpe (bottom) of the account."""
    from adaptrade.reports.html import BENCH, STRATEGY, _figure, _trace

    x = daily["date"].to_numpy()
    tr = [_trace(x, daily[f"vol_{w}"].to_numpy(dtype=np.float64), f"volatility {w}d", c, line={"dash": d})
          for w, c, d in ((63, STRATEGY, "dot"), (252, STRATEGY, "solid"))]
    tr += [_trace(x, daily[f"sharpe_{w}"].to_numpy(dtype=np.float64), f"Sharpe {w}d", c, yaxis="y2", line={"dash": d})
           for w, c, d in ((63, BENCH, "dot"), (252, BENCH, "solid"))]
    return _figure(tr, f"{who}: rolling 63/252-day volatility and Sharpe (annualised, risk-free 0)", height=460,
                   yaxis={"domain": [0.55, 1.0], "tickformat": ".0%", "title": {"text": "volatility"}},
                   yaxis2={"domain": [0.0, 0.45], "title": {"text": "Sharpe"}, "gridcolor": "#eee"})


def _underwater(uw: pd.DataFrame, who: str) -> dict[str, Any]:
    from adaptrade.reports.html import STRATEGY, _figure, _trace

    return _figure([_trace(uw["date"].to_numpy(), uw["underwater"].to_numpy(dtype=np.float64), "underwater", STRATEGY,
                           fill="tozeroy")], f"{who}: underwater curve (below the running peak)", height=300,
                   yaxis={"tickformat": ".0%"})


def analytics_html(run: dict[str, Any], fig_div: Callable[[dict[str, Any]], str], rates: tuple[float, float],
                   method: str = "fifo", worst: int = 5) -> str:
    """The four analytics sections for the run's frames (`analytics.data.from_run`'s input); figures drawn by `fig_div`."""
    from adaptrade.analytics import data, run as arun
    from adaptrade.analytics.attribution import UNATTRIBUTED

    rd = data.from_run(run)
    n = int(run["stocks"]["symbol"].nunique()) if len(run["stocks"]) else 0
    who = "account" if rd.portfolio else f"equal-weight book of the {n} all-in strategies"
    out = ['<h2 id="analytics">Analytics</h2>', f"<p>Of the {html.escape(who)} (ACCOUNT below); the same tables as "
           "<code>adaptrade analytics returns|attribution|tax|drawdowns RUN</code> on the stored run.</p>"]
    r = arun.tables(rd, "returns", symbols=["ACCOUNT"])
    yearly = r["returns_yearly"][["year", "ret"]]
    out += ["<h3>Returns</h3>", fig_div(_heatmap(r["returns_monthly"], f"{who}: monthly returns")),
            "<p>Yearly returns (ACCOUNT)</p>", table(yearly, "an-returns-yearly", ("ret",)),
            fig_div(_rolling(r["returns_daily"], who))]
    a = arun.tables(rd, "attribution")
    att = a["attribution"]
    total = att[att["symbol"] == "ACCOUNT"]
    stocks = att[~att["symbol"].isin(["ACCOUNT", UNATTRIBUTED])].sort_values("contribution", ascending=False)
    pct = ("contribution", "total_return", "buy_hold_return", "exposure_return", "timing_return")
    top = stocks.head(TOP)
    bottom = stocks.iloc[len(top):].tail(TOP).iloc[::-1]
    out += ["<h3>Attribution</h3>", f"<p>Account return {float(total['contribution'].iloc[0]):+.2%}: the contributions below "
            "sum to it" + (f" with the row '{UNATTRIBUTED}'" if rd.portfolio else "") + ". "
            + ("" if rd.portfolio else "Per stock: exposure_return is the price move over the bars it was in the market, "
               "timing_return the rest (entry/exit prices, costs).") + "</p>",
            f"<p>Top {len(top)} contributors</p>", table(top, "an-attribution-top", pct),
            f"<p>Bottom {len(bottom)} contributors</p>", table(bottom, "an-attribution-bottom", pct)]
    rest = att[att["symbol"] == UNATTRIBUTED]
    if len(rest):
        out.append(table(rest, "an-attribution-rest", pct))
    out += ["<p>Sectors</p>", table(a["attribution_sectors"], "an-attribution-sectors", ("contribution",))]
    out += _tax(rd, method, rates)
    d = arun.tables(rd, "drawdowns", worst=worst)
    out += ["<h3>Drawdowns</h3>", f"<p>Worst {len(d['drawdowns_worst'])} of {len(d['drawdowns'])} episodes "
            "(length, decline and time to recover in trading days; no recovery date: not recovered)</p>",
            table(d["drawdowns_worst"], "an-drawdowns-worst", ("depth",)), fig_div(_underwater(d["underwater"], who))]
    return "\n".join(out)


def _tax(rd: Any, method: str, rates: tuple[float, float]) -> list[str]:
    """The tax section: yearly summary under `method`, after-tax return per lot method."""
    from adaptrade.analytics import run as arun

    head = "<h3>Tax (US rules as documented in docs/analytics.md; an illustration, not tax advice)</h3>"
    if rd.portfolio and rd.run.get("fills") is None:
        return [head, "<p>Not computed: the report was written without the account's fills.</p>"]
    t = arun.tables(rd, "tax", method=method, rates=rates)
    return [head,"<h3>Tax (US rules as documented in docs/analytics.md; an illustration, not tax advice)</h3>",
            f"<p>Yearly summary, {method.upper()} lots, rates {rates[0]:.0%} short-term / {rates[1]:.0%} long-term "
            "(settings tax_short_rate, tax_long_rate)" + ("" if rd.portfolio else "; each stock taxed as its own account") + "</p>",
            table(t["tax_summary"], "an-tax-summary"), "<p>After-tax return per lot method</p>",
            table(t["tax_methods"], "an-tax-methods", ("pre_tax_return", "after_tax_return"))]
