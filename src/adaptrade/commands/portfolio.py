"""`adaptrade backtest --mode portfolio`: load, run the portfolio engine, print, write files, store."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from adaptrade.portfolio.results import PortfolioResult
from adaptrade.storage.backend import display
from adaptrade.storage.lifecycle import recorded


def run_portfolio_request(req: Any, settings: Any) -> tuple[PortfolioResult, Any]:
    """Run a RunRequest in portfolio mode (one account, risk limits from settings)."""
    from adaptrade.parallel import runner
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.results import build_portfolio_result
    from adaptrade.risk.limits import RiskLimits

    loaded = runner.load_data(req, settings)
    limits = RiskLimits.from_settings(settings).with_(initial_cash=req.strategy.initial_cash)
    if req.strategy.fill == "close":
        from adaptrade.errors import ConfigError

        raise ConfigError("portfolio mode fills orders from the next bar on; --fill close is per-stock only", field="fill")
    warm = warm_start(req, settings, loaded) if settings.kelly_warmup_from else None
    out = run_portfolio_backtest(loaded.bars, req.strategy, limits, states=None if warm is None else warm.states,
                                 sizes=None if warm is None else warm.sizes)
    info = runner.run_settings(req, settings, loaded)
    info.update(mode="portfolio", risk=limits.describe(), complete=True, failed_symbols=[],
                kelly_warmup_source="paper trades on the run's own data" if warm is None else warm.describe())
    pr = build_portfolio_result(out, loaded.benchmark_close, loaded.benchmark_symbol, risk_free_rate=settings.risk_free_rate,
                                min_sharpe=settings.min_sharpe, min_win_rate=settings.min_win_rate,
                                min_trades=settings.min_trades_rank, settings=info)
    return pr, loaded


def warm_start(req: Any, settings: Any, loaded: Any) -> Any:
    """The Kelly warm-up source `kelly_warmup_from`: a 'START..END' period or a stored run's period, learned
    per stock on the same source and symbols before the run starts (portfolio.warmup)."""
    from dataclasses import replace

    from adaptrade.errors import ConfigError
    from adaptrade.parallel import runner
    from adaptrade.portfolio.warmup import learn_earlier, parse_period

    text = str(settings.kelly_warmup_from)
    period = parse_period(text)
    if period is None:  # a stored run: its period (the store keeps no strategy states, so it is re-learned)
        from adaptrade.storage.runs import RunStore

        with RunStore(settings.db_path, read_only=True) as rs:
            st = rs.load_run(text)["settings"]
        if st.get("source") != req.source or not st.get("start") or not st.get("end"):
            raise ConfigError(f"run {text} has no {req.source} period to learn from", field="kelly_warmup_from")
        period = (str(st["start"]), str(st["end"]))
    if req.source != "archive":
        raise ConfigError("--warmup-from needs --source archive (synthetic bars have no earlier period)", field="kelly_warmup_from")
    wreq = replace(req, start=period[0], end=period[1], symbols=tuple(loaded.bars.symbols), universe=None, stocks=None)
    wloaded = runner.load_data(wreq, settings)
    return learn_earlier(wloaded.bars, tuple(loaded.bars.symbols), req.strategy, loaded.bars.dates[0])


def sectors_of(data_dir: Path | None, symbols: list[str]) -> dict[str, str]:
    """GICS sectors of the symbols where the NASDAQ-100 list knows them (empty otherwise)."""
    from adaptrade.errors import AdaptradeError
    from adaptrade.universe.universe import NasdaqUniverse

    try:
        known = NasdaqUniverse(data_dir).nasdaq100().set_index("symbol")["sector"].to_dict()
    except AdaptradeError:  # sectors are a label; an unreadable list leaves them empty
        known = {}
    return {s: str(known.get(s, "")) for s in symbols}


def per_stock_beside(pr: PortfolioResult, settings: Any) -> dict[str, Any]:
    """The per-stock all-in mode on the same bars and strategy, summarised for comparison (on the
    features the portfolio run already computed: the same RSI stack and volatility)."""
    from adaptrade.backtest.aggregate import aggregate
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.backtest.results import build_result

    out = pr.output
    base = out.features.base if out.features is not None else None
    res = build_result(run_backtest(out.bars, out.config, features=base), pr.result.benchmark_close, pr.result.benchmark_symbol,
                       risk_free_rate=settings.risk_free_rate)
    agg = aggregate(res.stocks)
    return {"mean_return": agg.get("mean_return"), "median_return": agg.get("median_return"),
            "trades": int(res.stocks["trades"].sum())}


def _pct(x: Any) -> str:
    """A fraction as a signed percentage, a dash when missing."""
    return "—" if x is None or math.isnan(x) else f"{x * 100:+.2f}%"


def attribution_table(pr: PortfolioResult, top: int = 10, bottom: int = 5) -> Table:
    """Per-stock rows of a portfolio run as what they are: each stock's contribution to the account
    return (its P&L / starting cash), ranked by contribution. No buy & hold, benchmark, beat or
    recommended columns: a stock's share of one account's P&L is not a strategy to compare with
    holding that stock (stocks.csv keeps its column names: `total_return` = the contribution)."""
    df = pr.result.stocks.sort_values(["total_return", "symbol"], ascending=[False, True], kind="mergesort")
    df = df.reset_index(drop=True)
    n = len(df)
    rows = df if n <= top + bottom else pd.concat([df.head(top), df.tail(bottom)])
    t = Table(title="per-stock attribution (stock P&L / starting cash)", title_justify="left")
    for col, just in [("#", "right"), ("symbol", "left"), ("contribution to account return", "right"), ("trades", "right"),
                      ("win", "right"), ("in market", "right")]:
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    prev = -1
    for k, r in rows.iterrows():
        if prev >= 0 and k != prev + 1:
            t.add_row("…", f"({k - prev - 1} more)", "", "", "", "")
        prev = int(k)
        win = "—" if not np.isfinite(r.win_rate) else f"{r.win_rate * 100:.0f}%"
        t.add_row(str(k + 1), str(r.symbol), _pct(r.total_return), str(int(r.trades)), win, f"{r.exposure * 100:.0f}%")
    return t


def attribution_block(pr: PortfolioResult) -> str:
    """One line: the contributions sum to the account return; how many stocks added or lost."""
    c = pr.result.stocks["total_return"]
    a = pr.account_summary()
    return (f"contribution to account return: sum over {len(c)} stocks {_pct(float(c.sum()))} "
            f"(account total return {_pct(a['total_return'])}); {int((c > 0).sum())} added, {int((c < 0).sum())} lost, "
            f"{int(pr.result.stocks['trades'].sum())} closed trades")


def _pct_abs(x: Any) -> str:
    """A fraction as an unsigned percentage (volatility, exposure)."""
    return "—" if x is None or math.isnan(x) else f"{x * 100:.2f}%"


def _num(x: Any) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.2f}"


def comparison_table(agg: dict[str, Any]) -> Table:
    """The account beside an equal-weight buy-and-hold of the same universe and the benchmark, same dates."""
    bm = agg.get("benchmark") or {}
    cols = [("account", agg), ("equal-weight buy & hold", agg.get("equal_weight_buy_hold") or {}),
            (f"benchmark {bm.get('symbol') or ''}".strip(), bm)]
    t = Table(title=f"account vs equal-weight buy & hold vs benchmark, {agg.get('start')} .. {agg.get('end')}", title_justify="left")
    t.add_column("")
    for name, _ in cols:
        t.add_column(name, justify="right")
    for label, key, fmt in [("total return", "total_return", _pct), ("annual return", "annual_return", _pct),
                            ("annual volatility", "annual_volatility", _pct_abs), ("Sharpe", "sharpe", _num),
                            ("Sortino", "sortino", _num), ("max drawdown", "max_drawdown", _pct), ("Calmar", "calmar", _num),
                            ("alpha (annual, CAPM)", "alpha", _pct), ("beta", "beta", _num)]:
        t.add_row(label, *[fmt(d.get(key)) for _, d in cols])
    t.add_row("exposure (mean gross)", _pct_abs(agg.get("exposure")), "", "")
    t.add_row("turnover (traded value / mean equity, per year)", _num(agg.get("turnover")), "", "")
    return t


def warmup_line(pr: PortfolioResult) -> str:
    """How long the Kelly warm-up kept the account out of the market: bars and years before the first
    real order, and how many entries the warm-up refused."""
    from adaptrade.portfolio.layout import O_CREATED_T

    out = pr.output
    n_bars = out.bars.n_bars
    refused = int((pr.events["rule"] == "kelly_warmup").sum()) if len(pr.events) else 0
    if out.limits.kelly_fraction == 0.0:
        return "Kelly sizing off: entries sized at max_position from the first signal"
    source = str(pr.result.settings.get("kelly_warmup_source") or "paper trades on the run's own data")
    first = int(out.orders[:, O_CREATED_T].min()) if len(out.orders) else None
    if first is None:
        return (f"Kelly warm-up ({source}): no order in {n_bars} bars ({n_bars / 252:.1f} years); {refused} entries refused "
                f"until a strategy had {out.limits.kelly_min_trades} closed trades")
    d0, d1 = out.bars.dates[0], out.bars.dates[first]
    return (f"Kelly warm-up ({source}): out of the market for {first} bars ({first / 252:.1f} years, {d0} .. {d1}) before "
            f"the first order; {refused} entries refused until a strategy had {out.limits.kelly_min_trades} closed trades")


def account_table(pr: PortfolioResult) -> Table:
    """The account block printed under the per-stock attribution table."""
    a = pr.account_summary()
    t = Table(title="portfolio account (one pot of cash)", title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    rows = [
        ("starting cash -> final equity", f"{a['initial_cash']:,.0f} -> {a['final_equity']:,.0f}"),
        ("total return", _pct(a["total_return"])),
        ("sharpe", "—" if a["sharpe"] is None else f"{a['sharpe']:.2f}"),
        ("max drawdown", _pct(a["max_drawdown"])),
        ("gross exposure mean / max", f"{a['mean_gross'] * 100:.1f}% / {a['max_gross'] * 100:.1f}%"),
        ("orders / fills / unfilled", f"{a['orders']} / {a['fills']} / {a['orders_unfilled']}"),
        ("trades (real / paper)", f"{a['trades']} / {a['paper_trades']}"),
        ("risk rules fired", ", ".join(f"{k} {v}" for k, v in a["rules_fired"].items()) or "none"),
        ("drawdown breaker", f"{sum(1 for e in a['breaker_events'] if e['rule'] == 'breaker_tripped')} trips" if a["breaker_events"] else "never tripped"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    return t


@recorded("portfolio")
def run_portfolio_mode(req: Any, settings: Any, title: str, out: Path | None, store: bool, top: int,
                       report_symbol: str | None, console: Console, rec: Any = None) -> PortfolioResult:
    """The portfolio branch of `adaptrade backtest`: same tables and files as per-stock mode, plus the account
    (the stored run also keeps the orders, fills and risk events)."""
    from adaptrade.reports.files import summary, write_outputs
    from adaptrade.portfolio.results import write_portfolio_files
    from adaptrade.reports.terminal import costs_line

    pr, loaded = run_portfolio_request(req, settings)
    doc = summary(pr.result)
    doc["aggregate"] = pr.aggregate()  # the account's figures, not per-stock means of attribution rows
    doc["portfolio"] = pr.account_summary()
    doc["portfolio"]["kelly_warmup"] = doc["aggregate"]["kelly_warmup"] = warmup_line(pr)
    doc["per_stock_mode"] = per_stock_beside(pr, settings)
    s = doc["settings"]
    console.print(f"[bold]{title} (portfolio mode: one account)[/bold]  {s['source']}, {len(s['symbols'])} stocks, "
                  f"{s['start']} .. {s['end']} ({s['bars']} bars), benchmark {s['benchmark']}")
    for note in s.get("notes", []):
        console.print(f"  [dim]note:[/dim] {note}")
    console.print("  " + costs_line(s))
    console.print(attribution_table(pr, top=top))
    console.print(attribution_block(pr), highlight=False)
    console.print(account_table(pr))
    console.print(comparison_table(doc["aggregate"]))
    console.print(warmup_line(pr), highlight=False)
    b = doc["per_stock_mode"]
    console.print(f"beside it, per-stock all-in mode on the same bars: mean return {_pct(b['mean_return'])} "
                  f"(= an equal-weight book of the {len(pr.result.stocks)} all-in strategies, no limits), "
                  f"{b['trades']} closed trades", highlight=False)
    if out is not None:
        write_outputs(pr.result, out, report_symbol=report_symbol, summary_doc=doc, account=pr.account,
                      attribution=pr.attribution(sectors_of(loaded.data_dir, list(pr.result.stocks["symbol"]))), fills=pr.fills)
        write_portfolio_files(pr, out)
        console.print(f"wrote {out}/ (summary.json, stocks.csv, trades.csv, params.csv, equity.parquet, report.html, "
                      "attribution.csv, orders.csv, fills.csv, order_history.csv, risk_events.csv, account.csv, trades_all.csv)")
    if rec is not None:
        run_id = rec.save(pr.result, doc, extra={"orders": pr.orders, "fills": pr.fills, "risk_events": pr.events,
                                                 "order_history": pr.history, "account": pr.account})
        console.print(f"stored as run {run_id} in {display(rec.target)}")
    return pr
