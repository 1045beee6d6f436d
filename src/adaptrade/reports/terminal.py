"""Terminal presentation of a run: the ranked table and the aggregate block (rich)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from adaptrade.backtest.aggregate import rank
from adaptrade.backtest.results import BacktestResult


def _pct(x: Any) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x * 100:+.2f}%"


def _num(x: Any, fmt: str = "{:.2f}") -> str:
    return "—" if x is None or not np.isfinite(x) else fmt.format(x)


def rank_key_text(min_trades: int, key: str = "Sharpe") -> str:
    """How the table and best / worst 5 are ranked, said in one phrase."""
    return f"ranked by {key} (stocks with fewer than {min_trades} closed trades ranked after all others, never recommended)"


def ranked_table(result: BacktestResult, title: str, top: int = 10, bottom: int = 5, min_trades: int = 10) -> Table:
    """Stocks ranked by Sharpe (fewer than `min_trades` closed trades: after all others): the best `top` and the worst `bottom`."""
    ranked = rank(result.stocks, "sharpe", min_trades=min_trades)
    n = len(ranked)
    rows = ranked if n <= top + bottom else pd.concat([ranked.head(top), ranked.tail(bottom)])
    bench = result.benchmark_symbol
    t = Table(title=title, title_justify="left")
    for col, just in [("#", "right"), ("symbol", "left"), ("return", "right"), ("buy&hold", "right"), (bench, "right"), ("vs " + bench, "right"), ("win", "right"), ("sharpe", "right"), ("max dd", "right"), ("trades", "right"), ("expo", "right"), ("rec", "center")]:
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    prev_rank = 0
    for r in rows.itertuples(index=False):
        if r.rank != prev_rank + 1 and prev_rank:
            t.add_row("…", f"({r.rank - prev_rank - 1} more)", *[""] * 10)
        prev_rank = r.rank
        t.add_row(
            str(r.rank),
            r.symbol,
            _pct(r.total_return),
            _pct(r.buy_hold_return),
            _pct(r.benchmark_return),
            _pct(r.outperformance),
            _num(r.win_rate * 100 if np.isfinite(r.win_rate) else np.nan, "{:.0f}%"),
            _num(r.sharpe),
            _pct(r.max_drawdown),
            str(r.trades),
            _num(r.exposure * 100, "{:.0f}%"),
            "yes" if r.recommended else "",
        )
    return t


def aggregate_block(doc: dict[str, Any], benchmark: str) -> Table:
    """The seed's results block: averages, beat count and share, medians, best and worst."""
    a = doc["aggregate"]
    s = doc["settings"]
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    n = a["stocks"]
    t.add_row("stocks", str(n))
    if "benchmark_period_return" in a:
        t.add_row(f"{benchmark} over the period ({s.get('start')} .. {s.get('end')})", _pct(a.get("benchmark_period_return")))
    t.add_row("average return", _pct(a["mean_return"]))
    t.add_row("median / std of returns", f"{_pct(a['median_return'])} / {_num(a['std_return'] * 100 if a['std_return'] is not None else None, '{:.2f}%')}")
    t.add_row("average buy & hold", _pct(a["mean_buy_hold_return"]))
    t.add_row(f"average {benchmark}", _pct(a["mean_benchmark_return"]))
    if a.get("beat_benchmark") is None:
        t.add_row(f"beat {benchmark}", f"— (no benchmark coverage: {benchmark} has no data on these dates)")
    else:
        t.add_row(f"beat {benchmark}", f"{a['beat_benchmark']}/{n} ({_num((a['beat_benchmark_share'] or 0) * 100, '{:.0f}%')})")
    t.add_row("beat buy & hold", f"{a['beat_buy_hold']}/{n}")
    t.add_row(f"median outperformance vs {benchmark}", _pct(a["median_outperformance"]))
    t.add_row("average Sharpe", _num(a["mean_sharpe"], "{:.3f}"))
    t.add_row("average win rate", _num((a["mean_win_rate"] or np.nan) * 100, "{:.1f}%"))
    t.add_row("average max drawdown", _pct(a["mean_max_drawdown"]))
    t.add_row("closed trades", str(a["total_trades"]))
    t.add_row(
        f"recommended for live (Sharpe > {s['min_sharpe']:g}, win > {s['min_win_rate'] * 100:g}%, >= {a.get('min_trades', 10)} trades)",
        f"{a['recommended']}" + (f": {', '.join(a['recommended_symbols'][:10])}" if a["recommended"] else ""),
    )
    key = a.get("rank_key", "sharpe")
    k = a.get("min_trades", 10)
    key_name = "Sharpe" if key == "sharpe" else key
    t.add_row(f"best 5 by {key_name} (>= {k} closed trades)", ", ".join(a["best"]))
    t.add_row(f"worst 5 by {key_name} (>= {k} closed trades)", ", ".join(a["worst"]))
    if a.get("below_min_trades"):
        t.add_row(f"fewer than {k} closed trades", f"{a['below_min_trades']} stocks, ranked last, never recommended")
    return t


def costs_line(settings: dict[str, Any]) -> str:
    """Costs and fill convention, printed with every run."""
    fill = settings["fill"]
    fill_txt = "next open (signal at close t, fill at open t+1)" if fill == "next_open" else "[bold yellow]close (OPTIMISTIC: fills at the signal bar's close)[/bold yellow]"
    shares = "whole shares" if settings["whole_shares"] else "fractional shares"
    return (
        f"costs: commission {settings['commission_bps']:g} bps + slippage {settings['slippage_bps']:g} bps per side; "
        f"fill: {fill_txt}; {shares}; strategy: {settings['strategy']} "
        f"(RSI {settings['rsi_period']}, {settings['buy']:g}/{settings['sell']:g})"
    )


def print_run(console: Console, result: BacktestResult, doc: dict[str, Any], title: str, top: int = 10) -> None:
    """Everything a run prints: header, notes, costs, ranked table, aggregate block."""
    s = doc["settings"]
    console.print(f"[bold]{title}[/bold]  {s['source']}, {len(s['symbols'])} stocks, {s['start']} .. {s['end']} ({s['bars']} bars), benchmark {s['benchmark']}")
    for note in s.get("notes", []):
        console.print(f"  [dim]note:[/dim] {note}")
    console.print("  " + costs_line(s))
    k = int(doc["aggregate"].get("min_trades", 10))
    console.print(ranked_table(result, rank_key_text(k), top=top, min_trades=k))
    console.print(aggregate_block(doc, result.benchmark_symbol))
