"""One self-contained HTML report of a backtest: equity (linear/log toggle), drawdowns, monthly
returns heatmap, parameter evolution, yearly returns and the full sortable ranking.

The figures are a fixed set of series (the chosen stock and the cross-stock average), each
downsampled to at most ~MAX_POINTS points; only the ranking table grows, one row per stock.
plotly.js is inlined once, so the file opens offline.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adaptrade.backtest.aggregate import aggregate, rank
from adaptrade.backtest.curves import drawdown as _drawdown
from adaptrade.backtest.curves import mean_curves
from adaptrade.backtest.curves import normalised as _normalised
from adaptrade.backtest.results import BacktestResult
from adaptrade.reports import plotly_html
from adaptrade.reports.html_tables import SORT_JS, ranking_tables, yearly_table

MAX_POINTS = 1000  # per plotted series
VOL_SCALAR_START = 1.0  # strategy.kernel.initial_state() starts every stock at 1.0
STRATEGY, BUY_HOLD, BENCH = "#1f77b4", "#7f7f7f", "#ff7f0e"
CSS = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;font-size:12px;margin-bottom:1em}"
    "th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}"
    ".warn{color:#b00;font-weight:bold}.settings td,.settings th{text-align:left}"
)


ACCOUNT_TITLE = "Account (portfolio mode: one account): equity vs {bname} (1.0 at first bar)"
ACCOUNT_DRAWDOWN_TITLE = "Account drawdown (from the running peak)"


def write_report(result: BacktestResult, path: Path, symbol: str | None = None, account: pd.DataFrame | None = None,
                 account_aggregate: dict[str, Any] | None = None,
                 average: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
                 fills: pd.DataFrame | None = None, summary_doc: dict[str, Any] | None = None,
                 tax_rates: tuple[float, float] | None = None, analytics: bool = True,
                 frames: dict[str, pd.DataFrame] | None = None, analytics_note: str | None = None) -> Path:
    """Write the HTML report for `symbol` (default: best by Sharpe) to `path`; returns the path.

    `account` (portfolio mode: a frame with date, equity, cash, gross, drawdown) adds the account's
    equity vs the benchmark and its drawdown above the per-stock figures, and the header says so;
    `account_aggregate` (portfolio mode: summary.json's account block) gives the header the account's figures
    beside equal-weight buy-and-hold and the benchmark instead of per-stock means.
    `average` (a streamed run, reports.stream): the cross-stock mean curves accumulated batch by batch;
    `result` then holds every stock's summary row but the arrays of the featured stock only, and
    `frames` (trades, equity read back from the run's files) feed the analytics sections.
    The analytics sections (reports/html_analytics.py) come from the same frames, `fills` (portfolio mode)
    and `summary_doc`; `tax_rates` default to the settings' tax_short_rate, tax_long_rate;
    `analytics=False` leaves them out (`analytics_note` then says why in their place).
    """
    bars = result.output.bars
    if bars.n_symbols == 0:
        raise ValueError("cannot write a report for a backtest without stocks")
    k = _min_trades(result)
    key = "total_return" if account is not None else "sharpe"  # portfolio mode: the largest contribution
    eligible = rank(result.stocks, key, min_trades=k)
    eligible = eligible[eligible["trades"] >= k]
    chosen: str | None = symbol if symbol is not None else (str(eligible["symbol"].iloc[0]) if len(eligible) else None)
    strat, bh, bench = _normalised(result)
    x = np.datetime_as_string(bars.dates, unit="D")
    avg = list(average) if average is not None else mean_curves(strat, bh, bench)
    n_stocks = len(result.stocks)
    bname = result.benchmark_symbol or "benchmark"
    # no benchmark coverage: the title does not promise a line that is not drawn
    vs = f" vs {bname}" if bench is not None else f" (no {bname} data on these dates)"
    i = bars.index_of(chosen) if chosen is not None else -1
    figs = []
    if account is not None:  # the account leads; a stock's sleeve is never plotted against its own buy & hold
        figs = _account_figures(account, result, bname)
    else:
        if chosen is not None:
            figs.append(_curve_figure(x, strat[i], bh[i], None if bench is None else bench[i], bname,
                                      f"{chosen}: equity vs buy & hold{vs} (1.0 at first bar)"))
        figs.append(_curve_figure(x, avg[0], avg[1], avg[2], bname, f"Average of {n_stocks} stocks (mean of normalised curves)"))
        if chosen is not None:
            figs.append(_drawdown_figure(x, chosen, strat[i], bh[i], avg[0], avg[1]))
        figs.append(_average_drawdown_figure(x, n_stocks, avg[0], avg[1]))
        # monthly returns of the featured stock, or of the average when no stock has enough trades to feature
        figs.append(_heatmap_figure(x, strat[i], chosen) if chosen is not None else _heatmap_figure(x, avg[0], "average of stocks"))
    if chosen is not None:
        figs.append(_params_figure(result, chosen, i))
    yearly = ""
    if chosen is not None and account is None:
        yearly = yearly_table(x, chosen, strat[i], bh[i], None if bench is None else bench[i], bname, avg)
    elif account is None:
        yearly = yearly_table(x, "average of stocks", avg[0], avg[1], avg[2], bname, [None, None, None])
    if chosen is None:
        chosen = f"none (no stock with at least {k} closed trades)"
    config = {"responsive": True, "displaylogo": False}
    divs = [plotly_html.figure_div(f, config, include_plotlyjs=(k == 0)) for k, f in enumerate(figs)]
    if analytics:
        from adaptrade.settings import load_settings

        settings = load_settings()
        if tax_rates is None:
            tax_rates = (settings.tax_short_rate, settings.tax_long_rate)
        if account is None and analytics_note is None:  # portfolio runs trade one account: its fills are few enough
            analytics_note = trade_cap_note(result.stocks, settings.report_analytics_max_trades)
            analytics = analytics_note is None
    sections = _analytics(result, account, fills, summary_doc, tax_rates, lambda f: plotly_html.figure_div(
        f, config), frames) if analytics else (
        f'<h2 id="analytics">Analytics</h2><p>{html.escape(analytics_note)}</p>' if analytics_note else "")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>adaptrade report: {html.escape(chosen)}</title>'
        f"<style>{CSS}</style></head><body>\n{_header(result, chosen, account, account_aggregate)}\n" + "\n".join(divs)
        + f"\n{yearly}\n{ranking_tables(result.stocks)}\n{sections}\n{SORT_JS}</body></html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def trade_cap_note(stocks: pd.DataFrame, limit: int) -> str | None:
    """Why a per-stock report leaves its analytics sections out (more closed trades than `limit`: tax lots cost seconds), or None."""
    n_trades = int(pd.to_numeric(stocks.get("trades", pd.Series(dtype=float)), errors="coerce").fillna(0).sum())
    if n_trades <= limit:
        return None
    return (f"Left out of this report: {n_trades:,} closed trades is more than ADAPTRADE_REPORT_ANALYTICS_MAX_TRADES "
            f"({limit:,}); their tax lots cost seconds. Store the run and run "
            "`adaptrade analytics returns|attribution|tax|drawdowns RUN`, or raise the setting.")


def _analytics(result: BacktestResult, account: pd.DataFrame | None, fills: pd.DataFrame | None, doc: dict[str, Any] | None,
               rates: tuple[float, float], fig_div: Any, frames: dict[str, pd.DataFrame] | None = None) -> str:
    """The analytics sections from the run's frames in memory (as the store would give them back)."""
    from adaptrade.reports.html_analytics import analytics_html

    if frames is not None:
        run = {"stocks": result.stocks, "trades": frames["trades"], "equity": frames["equity"], "summary": doc or {}}
    else:
        run = {"stocks": result.stocks, "trades": result.trades, "equity": result.equity_long(), "summary": doc or {}}
    if account is not None:
        run["account"] = account
        run["fills"] = fills
    return analytics_html(run, fig_div, rates)


def _min_trades(result: BacktestResult) -> int:
    """The run's minimum-trades ranking setting (default 10)."""
    v = result.settings.get("min_trades_rank", 10) if isinstance(result.settings, dict) else 10
    return int(v) if v is not None else 10  # type: ignore[call-overload]


def _downsample(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Min/max bucket decimation to <= ~max_points finite points, keeping peaks and troughs."""
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    n = y.size
    if n <= max_points:
        return x, y
    k = math.ceil(2 * n / (max_points - 2))
    nb = math.ceil(n / k)
    yp = np.concatenate([y, np.full(nb * k - n, np.nan)]).reshape(nb, k)
    nan = np.isnan(yp)
    base = np.arange(nb) * k
    lo = base + np.where(nan, np.inf, yp).argmin(axis=1)
    hi = base + np.where(nan, -np.inf, yp).argmax(axis=1)
    idx = np.unique(np.concatenate([lo, hi, [0, n - 1]]))
    idx = idx[idx < n]
    return x[idx], y[idx]


def _f8(y: np.ndarray) -> dict[str, str]:
    """A float64 array as plotly.js's compact base64 typed-array spec."""
    return {"dtype": "f8", "bdata": base64.b64encode(np.ascontiguousarray(y, dtype="<f8").tobytes()).decode("ascii")}


def _trace(x: np.ndarray, y: np.ndarray | None, name: str, color: str, **kw: Any) -> dict[str, Any] | None:
    """A downsampled line trace as a plain dict (None when there is no data)."""
    if y is None:
        return None
    xs, ys = _downsample(x, y)
    line = {"color": color, **kw.pop("line", {})}
    return {"type": "scatter", "mode": "lines", "name": name, "x": xs.tolist(), "y": _f8(ys), "line": line, **kw}


def _figure(traces: list[dict[str, Any] | None], title: str, height: int = 380, **layout: Any) -> dict[str, Any]:
    """A figure dict from the non-empty traces; plain dicts skip plotly's slow validation."""
    base = {
        "title": {"text": title},
        "height": height,
        "hovermode": "x unified",
        "margin": {"t": 50, "b": 30, "l": 60, "r": 20},
        "plot_bgcolor": "white",
        "xaxis": {"type": "date", "gridcolor": "#eee"},
        "yaxis": {"gridcolor": "#eee", "zerolinecolor": "#ccc"},
    }
    for key, val in layout.items():
        base[key] = {**base.get(key, {}), **val} if isinstance(val, dict) else val
    return {"data": [tr for tr in traces if tr is not None], "layout": base}


LOG_TOGGLE = {"type": "buttons", "direction": "right", "x": 1.0, "xanchor": "right", "y": 1.12, "yanchor": "bottom",
              "showactive": True, "active": 0,
              "buttons": [{"label": "linear", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
                          {"label": "log scale", "method": "relayout", "args": [{"yaxis.type": "log"}]}]}


def _curve_figure(x: np.ndarray, strat: np.ndarray, bh: np.ndarray, bench: np.ndarray | None, bname: str, title: str) -> dict[str, Any]:
    """Strategy vs buy & hold vs benchmark, normalised; a linear / log toggle (a 60x curve flattens the rest)."""
    return _figure(
        [_trace(x, strat, "strategy", STRATEGY), _trace(x, bh, "buy & hold", BUY_HOLD), _trace(x, bench, bname, BENCH)],
        title,
        yaxis={"title": {"text": "growth of 1.0"}, "type": "linear"},
        updatemenus=[LOG_TOGGLE],
    )


def _drawdown_figure(x: np.ndarray, chosen: str, strat: np.ndarray, bh: np.ndarray, avg_strat: np.ndarray, avg_bh: np.ndarray) -> dict[str, Any]:
    """Drawdowns of the chosen stock, its x axis spanning the stock's own dates (not the run's)."""
    own = np.flatnonzero(np.isfinite(strat))
    span = {"range": [str(x[own[0]]), str(x[own[-1]])]} if own.size else {}
    return _figure(
        [
            _trace(x, _drawdown(strat), f"{chosen} strategy", STRATEGY),
            _trace(x, _drawdown(bh), f"{chosen} buy & hold", BUY_HOLD),
        ],
        f"{chosen}: drawdowns over its own dates ({span['range'][0]} to {span['range'][1]})" if span else f"{chosen}: drawdowns",
        yaxis={"tickformat": ".0%"},
        xaxis=span,
    )


def _average_drawdown_figure(x: np.ndarray, n: int, avg_strat: np.ndarray, avg_bh: np.ndarray) -> dict[str, Any]:
    """Drawdowns of the average (mean of normalised) curves, strategy and buy & hold."""
    return _figure(
        [
            _trace(x, _drawdown(avg_strat), "average strategy", STRATEGY, line={"dash": "dot"}),
            _trace(x, _drawdown(avg_bh), "average buy & hold", BUY_HOLD, line={"dash": "dot"}),
        ],
        f"Drawdowns of the average of {n} stocks",
        height=300,
        yaxis={"tickformat": ".0%"},
    )


def period_returns(x: np.ndarray, curve: np.ndarray, freq: str) -> pd.Series:
    """Returns per calendar month ("M") or year ("Y") of a curve (first period from its first value)."""
    ok = np.isfinite(curve)
    if not ok.any():
        return pd.Series(dtype=np.float64)
    c = pd.Series(curve[ok], index=pd.DatetimeIndex(np.asarray(x)[ok].astype("datetime64[D]")))
    key = c.index.to_period(freq)
    last = c.groupby(key).last()
    prev = last.shift(1)
    prev.iloc[0] = c.iloc[0]
    return last / prev - 1.0


def _heatmap_figure(x: np.ndarray, curve: np.ndarray, name: str) -> dict[str, Any]:
    """Monthly returns as a year x month heatmap (red losses, green gains, the value in each cell)."""
    m = period_returns(x, curve, "M")
    years = sorted({p.year for p in m.index})
    z = np.full((len(years), 12), np.nan)
    for p, v in m.items():
        z[years.index(p.year), p.month - 1] = v
    text = [["" if not np.isfinite(v) else f"{v:+.1%}" for v in row] for row in z]
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.1
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    trace = {"type": "heatmap", "name": "monthly return", "x": months, "y": [str(y) for y in years],
             "z": [[None if not np.isfinite(v) else float(v) for v in row] for row in z], "text": text,
             "texttemplate": "%{text}", "hovertemplate": "%{y} %{x}: %{text}<extra></extra>",
             "colorscale": [[0.0, "#c0392b"], [0.5, "#f7f7f7"], [1.0, "#1e8449"]], "zmid": 0.0, "zmin": -lim, "zmax": lim, "colorbar": {"tickformat": ".0%"}}
    return _figure([trace], f"{name}: monthly returns (strategy)", height=max(260, 28 * len(years) + 120),
                   hovermode="closest", xaxis={"type": "category"}, yaxis={"type": "category", "autorange": "reversed"})


def _account_figures(account: pd.DataFrame, result: BacktestResult, bname: str) -> list[dict[str, Any]]:
    """Portfolio mode: the account equity (1.0 at its first bar) vs equal-weight buy & hold and the benchmark
    over the same dates, and the account drawdown (the account's own `drawdown` column, from its high-water mark)."""
    from adaptrade.portfolio.curves import account_curves

    c = account_curves(account, result)
    xs = np.datetime_as_string(c.dates, unit="D")
    return [
        _figure([_trace(xs, c.equity, "account equity", STRATEGY), _trace(xs, c.buy_hold, "equal-weight buy & hold", BUY_HOLD),
                 _trace(xs, c.benchmark, bname, BENCH)],
                ACCOUNT_TITLE.format(bname=bname), yaxis={"title": {"text": "growth of 1.0"}, "type": "linear"},
                updatemenus=[LOG_TOGGLE]),
        _figure([_trace(xs, c.drawdown, "account", STRATEGY),
                 _trace(xs, None if c.benchmark is None else _drawdown(c.benchmark), bname, BENCH)],
                ACCOUNT_DRAWDOWN_TITLE, height=300, yaxis={"tickformat": ".0%"}),
    ]


def _params_figure(result: BacktestResult, chosen: str, i: int) -> dict[str, Any]:
    """Step lines of RSI period, buy/sell thresholds and vol scalar for the chosen stock (3 stacked axes)."""
    cfg = result.output.config
    bars = result.output.bars
    traces: list[dict[str, Any] | None] = []
    idx = np.flatnonzero(bars.valid[i])
    if idx.size:
        start, end = bars.dates[idx[0]], bars.dates[idx[-1]]
        log = result.params[result.params["symbol"].astype(str) == chosen]
        spec = [("rsi_period", cfg.rsi_period, "y", STRATEGY), ("buy_threshold", cfg.buy, "y2", "#2ca02c"),
                ("sell_threshold", cfg.sell, "y2", "#d62728"), ("vol_scalar", VOL_SCALAR_START, "y3", BENCH)]  # fmt: skip
        for name, init, axis, color in spec:
            ch = log[log["parameter"] == name]
            d = np.concatenate([[start], ch["date"].to_numpy().astype("datetime64[D]"), [end]])
            v = np.concatenate([[init], ch["new_value"].to_numpy(dtype=np.float64), [np.nan]])
            v[-1] = v[-2]
            traces.append(_trace(np.datetime_as_string(d, unit="D"), v, name, color, yaxis=axis, line={"shape": "hv"}))
    return _figure(
        traces,
        f"{chosen}: parameter evolution (from the parameter log)",
        height=560,
        margin={"t": 50},
        yaxis={"domain": [0.70, 1.0], "title": {"text": "RSI period"}},
        yaxis2={"domain": [0.36, 0.64], "title": {"text": "buy / sell"}, "gridcolor": "#eee"},
        yaxis3={"domain": [0.0, 0.30], "title": {"text": "vol scalar"}, "gridcolor": "#eee"},
    )


def _header(result: BacktestResult, chosen: str, account: pd.DataFrame | None = None,
            acct_agg: dict[str, Any] | None = None) -> str:
    """Run settings, warnings and the aggregate results block (portfolio mode: the account's figures)."""
    cfg = result.output.config
    bars = result.output.bars
    s = result.settings
    source = str(s.get("source") or bars.source or "unknown")
    dates = f"{bars.dates[0]} to {bars.dates[-1]} ({bars.n_bars} sessions)" if bars.n_bars else "none"
    rows = [
        ("source", source),
        ("dates", dates),
        ("stocks", f"{len(result.stocks)} (chosen: {chosen})"),
        ("benchmark", result.benchmark_symbol or "none"),
        ("strategy", f"{cfg.kind}: RSI {cfg.rsi_period}, buy {cfg.buy:g}, sell {cfg.sell:g}"),
        ("costs", f"commission {cfg.commission_bps:g} bps, slippage {cfg.slippage_bps:g} bps"),
        ("fill", cfg.fill),
    ]
    warn = []
    if cfg.fill == "close":
        warn.append("OPTIMISTIC: fills at the signal bar's close")
    if "synthetic" in source.lower() or bars.source.startswith("synthetic"):
        warn.append("Synthetic data: synthetic mean-reverting data flatters RSI strategies; do not read these results as real-market evidence.")
    bc = result.benchmark_close
    has_bench = bc is not None and bool(np.isfinite(np.asarray(bc, dtype=np.float64)).any())
    if not has_bench:
        rows[3] = ("benchmark", f"{result.benchmark_symbol or 'none'}: NO COVERAGE of these dates (no comparison)")
        warn.append(f"No benchmark coverage: {result.benchmark_symbol or 'the benchmark'} has no data on these dates.")
    pct = lambda v: "–" if v is None else f"{v:.1%}"  # noqa: E731
    num = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    title = "adaptrade backtest report"
    if account is not None:
        title += " (portfolio mode: one account)"
        a = acct_agg or {}
        ew, bm = a.get("equal_weight_buy_hold") or {}, a.get("benchmark") or {}
        line = lambda d: (f"total {pct(d.get('total_return'))}, annual {pct(d.get('annual_return'))}, "  # noqa: E731
                          f"Sharpe {num(d.get('sharpe'))}, max drawdown {pct(d.get('max_drawdown'))}")
        rows += [("mode", "portfolio mode: one account (per-stock rows below are attribution: stock P&L / starting cash, "
                          "never counted as beat or recommended)"),
                 ("account", line(a) + f", alpha {pct(a.get('alpha'))}, beta {num(a.get('beta'))}, "
                                       f"exposure {pct(a.get('exposure'))}, turnover {num(a.get('turnover'))}/yr"),
                 ("equal-weight buy & hold", line(ew)),
                 (f"benchmark {bm.get('symbol') or result.benchmark_symbol or ''}".strip(), line(bm))]
        if a.get("kelly_warmup"):
            rows.append(("Kelly warm-up", str(a["kelly_warmup"])))
    else:
        agg = aggregate(result.stocks)
        rows += [
            ("mean / median return", f"{pct(agg['mean_return'])} / {pct(agg['median_return'])}"),
            ("beat benchmark", f"{agg['beat_benchmark']} of {agg['stocks']} ({pct(agg['beat_benchmark_share'])})"
             if has_bench else "– (no benchmark coverage on these dates)"),
            ("mean Sharpe", num(agg["mean_sharpe"])),
            ("recommended", str(agg["recommended"])),
        ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    warns = "".join(f'<p class="warn">{html.escape(w)}</p>' for w in warn)
    return f'<h1>{html.escape(title)}</h1>{warns}<table class="settings">{table}</table>'
