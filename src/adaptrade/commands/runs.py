"""`adaptrade runs list|show`: read back the runs kept in the run store (DuckDB or PostgreSQL)."""

from __future__ import annotations

from typing import Optional

import typer

from adaptrade.commands.common import console, fail
from adaptrade.errors import AdaptradeError

app = typer.Typer(no_args_is_help=True, help="List and inspect backtest runs kept in the DuckDB run store.")


def _runs_db(db: Optional[str]) -> str:
    """The run store: --db (a DuckDB path or a postgresql:// URL), else ADAPTRADE_DB_URL, else Settings().db_path."""
    from adaptrade.settings import load_settings
    from adaptrade.storage.backend import store_target

    return store_target(load_settings(), db)


def _runs_fmt(key: str, v: object) -> str:
    """A summary value for the terminal: percentages for returns / shares / rates / drawdowns."""
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, float) and any(w in key for w in ("std", "share", "rate", "exposure")):
        return f"{v * 100:.1f}%"
    if isinstance(v, float) and any(w in key for w in ("return", "drawdown", "outperformance")):
        return f"{v * 100:+.2f}%"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, list):
        return ", ".join(map(str, v[:10])) + (f" … (+{len(v) - 10})" if len(v) > 10 else "")
    return str(v)


@app.command("list")
def runs_list(db: Optional[str] = typer.Option(None, "--db", help="Run store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default: Settings().db_path).")) -> None:
    """List the stored runs, oldest first."""
    from rich.markup import escape
    from rich.table import Table

    from adaptrade.storage.runs import RunStore

    from adaptrade.settings import load_settings
    from adaptrade.storage.backend import display, exists

    target = _runs_db(db)
    path = display(target)
    if not exists(target):
        console.print(f"no runs stored yet ({escape(str(path))} does not exist)")
        return
    try:
        with RunStore(target, read_only=True, lock_timeout=load_settings().store_lock_timeout) as rs:
            runs = rs.list_runs(stale_after=load_settings().stale_after)
    except AdaptradeError as exc:
        raise fail(exc) from None
    if runs.empty:
        console.print(f"no runs stored yet in {escape(str(path))}")
        return
    t = Table(title=f"runs in {escape(str(path))}", title_justify="left")
    for col in runs.columns:
        t.add_column(col, justify="right" if col in ("stocks", "mean_return", "beat_share", "mean_sharpe") else "left", no_wrap=col in ("id", "created", "dates"))
    runs["created"] = runs["created"].str.slice(0, 16).str.replace("T", " ")
    runs["dates"] = runs["dates"].str.replace(" .. ", "..")
    for r in runs.itertuples(index=False):
        t.add_row(*[escape(_runs_fmt(c, v)) for c, v in zip(runs.columns, r)])
    console.print(t)


@app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="Run id, as printed by `adaptrade runs list`."),
    db: Optional[str] = typer.Option(None, "--db", help="Run store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default: Settings().db_path)."),
    top: int = typer.Option(10, "--top", help="Rows of the ranked stocks table."),
) -> None:
    """Print one run's settings and summary (and, for a portfolio run, how many orders, fills and
    risk events it stored), then the top of its stocks ranked by Sharpe."""
    from rich.markup import escape
    from rich.table import Table

    from adaptrade.backtest.aggregate import rank
    from adaptrade.errors import StoreError
    from adaptrade.storage.runs import RunStore

    from adaptrade.storage.backend import display, exists

    target = _runs_db(db)
    try:
        if not exists(target):
            raise StoreError(f"unknown run id '{run_id}' (no run store here)", file=display(target))
        with RunStore(target, read_only=True) as rs:
            run = rs.load_run(run_id)
    except AdaptradeError as exc:
        raise fail(exc) from None
    s, summ = run["settings"], run["summary"]
    agg = summ.get("aggregate", summ) if isinstance(summ.get("aggregate"), dict) else summ
    head = Table(show_header=False, box=None, pad_edge=False, title=f"run {run['id']}", title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    fill = s.get("fill")
    for k, v in [("created", run["created"]), ("status", run["status"]), ("source", s.get("source")),
                 ("dates", f"{s.get('start')} .. {s.get('end')}"), ("benchmark", s.get("benchmark")),
                 ("strategy", f"{s.get('strategy')} (RSI {s.get('rsi_period')}, {s.get('buy')}/{s.get('sell')})"),
                 ("costs", f"commission {s.get('commission_bps')} bps + slippage {s.get('slippage_bps')} bps per side"),
                 ("fill", "close (OPTIMISTIC: fills at the signal bar's close)" if fill == "close" else fill)]:  # fmt: skip
        head.add_row(k, escape(str(v)))
    for k, v in agg.items():
        if not isinstance(v, dict):
            head.add_row(escape(k), escape(_runs_fmt(k, v)))
    stored = [(label, run[name]) for name, label in (("orders", "orders"), ("fills", "fills"), ("risk_events", "risk events")) if name in run]
    if stored:
        head.add_row("stored tables", ", ".join(f"{label} {len(df):,}" for label, df in stored))
    console.print(head)
    ranked = rank(run["stocks"], "sharpe").head(top)
    if "recommended" in ranked:
        ranked["recommended"] = ranked["recommended"].map({True: "yes", False: ""})
    t = Table(title=f"top {len(ranked)} of {len(run['stocks'])} by Sharpe", title_justify="left")
    cols = ["rank", "symbol", "total_return", "buy_hold_return", "benchmark_return", "outperformance", "win_rate", "sharpe", "max_drawdown", "trades", "exposure", "recommended"]
    cols = [c for c in cols if c in ranked.columns]
    for c in cols:
        t.add_column(c, justify="left" if c == "symbol" else "right")
    for r in ranked[cols].itertuples(index=False):
        t.add_row(*[escape(_runs_fmt(c, v)) for c, v in zip(cols, r)])
    console.print(t)
