"""`adaptrade runs list|show|delete|compare`: read back (and prune) the runs kept in the run store (DuckDB or PostgreSQL)."""

from __future__ import annotations

from typing import Optional

import typer

from adaptrade.commands.common import check_top, console, fail
from adaptrade.commands.listing import check_format, emit, format_option
from adaptrade.errors import AdaptradeError

app = typer.Typer(no_args_is_help=True, help="List and inspect backtest runs kept in the DuckDB run store.")


def _runs_db(db: Optional[str]) -> str:
    """The run store: --db (a DuckDB path or a postgresql:// URL), else ADAPTRADE_DB_URL, else Settings().db_path."""
    from adaptrade.settings import load_settings
    from adaptrade.storage.backend import store_target

    return store_target(load_settings(), db)


def _open(target: str, read_only: bool = True) -> "RunStore":  # noqa: F821
    """The run store at `target`, with the lock timeout of the settings."""
    from adaptrade.settings import load_settings
    from adaptrade.storage.runs import RunStore

    return RunStore(target, read_only=read_only, lock_timeout=load_settings().store_lock_timeout)


def _runs_fmt(key: str, v: object) -> str:
    """A summary value for the terminal: percentages for returns / shares / rates / drawdowns."""
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, float) and any(w in key for w in ("std", "share", "rate", "exposure", "volatility")):
        return f"{v * 100:.1f}%"
    if isinstance(v, float) and any(w in key for w in ("return", "drawdown", "outperformance", "alpha")):
        return f"{v * 100:+.2f}%"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, list):
        return ", ".join(map(str, v[:10])) + (f" … (+{len(v) - 10})" if len(v) > 10 else "")
    return str(v)


@app.command("list")
def runs_list(db: Optional[str] = typer.Option(None, "--db", help="Run store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default: Settings().db_path)."),
              fmt: str = format_option()) -> None:
    """List the stored runs, oldest first (`return`: mean over stocks for per-stock runs, the account's
    total return for portfolio runs; `mode` says which)."""
    from rich.markup import escape
    from rich.table import Table

    try:
        check_format(fmt)
    except AdaptradeError as exc:
        raise fail(exc) from None
    from adaptrade.settings import load_settings
    from adaptrade.storage.backend import display, exists

    target = _runs_db(db)
    path = display(target)
    if not exists(target) and fmt != "table":
        import pandas as pd

        from adaptrade.storage.runs import LIST_COLUMNS

        emit(console, pd.DataFrame(columns=LIST_COLUMNS), fmt, lambda: None)
        return
    if not exists(target):
        console.print(f"no runs stored yet ({escape(str(path))} does not exist)")
        return
    try:
        with _open(target) as rs:
            runs = rs.list_runs(stale_after=load_settings().stale_after)
    except AdaptradeError as exc:
        raise fail(exc) from None
    if fmt != "table":
        emit(console, runs, fmt, lambda: None)
        return
    if runs.empty:
        console.print(f"no runs stored yet in {escape(str(path))}")
        return
    t = Table(title=f"runs in {escape(str(path))}", title_justify="left")
    # one return column: per-stock runs show the mean over stocks, portfolio runs the account's return
    portfolio = runs["mode"] == "portfolio"
    runs["mean_return"] = runs["mean_return"].astype(object).where(~portfolio, runs["account_return"])
    runs = runs.drop(columns=["account_return"]).rename(columns={"mean_return": "return"})
    runs["mode"] = runs["mode"].replace({"portfolio": "portf.", "per-stock": "stock"})
    for col in runs.columns:
        t.add_column(col, justify="right" if col in ("stocks", "return", "beat_share", "mean_sharpe") else "left",
                     no_wrap=col in ("id", "created", "dates", "source"))
    runs["created"] = runs["created"].str.slice(0, 16).str.replace("T", " ")
    runs["dates"] = runs["dates"].str.replace(" .. ", "..")
    for r in runs.itertuples(index=False):
        t.add_row(*[escape(_runs_fmt(c, v)) for c, v in zip(runs.columns, r)])
    console.print(t)


@app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix of it), as printed by `adaptrade runs list`."),
    db: Optional[str] = typer.Option(None, "--db", help="Run store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default: Settings().db_path)."),
    top: int = typer.Option(10, "--top", help="Rows of the ranked stocks table."),
    fmt: str = format_option(),
) -> None:
    """Print one run's settings and summary (and, for a portfolio run, how many orders, fills and
    risk events it stored), then the top of its stocks ranked by Sharpe."""
    from rich.markup import escape
    from rich.table import Table

    from adaptrade.backtest.aggregate import rank

    path = _runs_db(db)
    try:
        check_format(fmt)
        check_top(top)
        run = _load(path, run_id)
    except AdaptradeError as exc:
        raise fail(exc) from None
    if "stocks" not in run:  # a paper session (or a run still running): no ranked stocks
        import pandas as pd

        from adaptrade.storage.schema import STOCKS

        run["stocks"] = pd.DataFrame({c: pd.Series(dtype=object) for c in STOCKS})
    if fmt == "json":
        import json
        import sys

        doc = {k: run[k] for k in ("id", "created", "status", "settings", "summary")}
        doc["stocks"] = json.loads(rank(run["stocks"], "sharpe").to_json(orient="records"))
        sys.stdout.write(json.dumps(doc, indent=1, default=str) + "\n")
        return
    if fmt == "csv":
        emit(console, rank(run["stocks"], "sharpe"), "csv", lambda: None)
        return
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
        else:  # portfolio runs: equal-weight buy & hold and the benchmark beside the account
            parts = [f"{name} {_runs_fmt(name, v.get(name))}" for name in ("total_return", "annual_return", "sharpe", "max_drawdown")
                     if name in v]
            head.add_row(escape(k), escape(", ".join(parts) or str(v)))
    stored = [(label, run[name]) for name, label in (("trades", "trades"), ("params", "parameter changes"), ("orders", "orders"),
                                                     ("fills", "fills"), ("risk_events", "risk events"))
              if name in run and (s.get("mode") == "paper" or name not in ("trades", "params"))]
    if stored:
        head.add_row("stored tables", ", ".join(f"{label} {len(df):,}" for label, df in stored))
    console.print(head)
    if s.get("mode") == "paper":
        return  # a paper session ranks no stocks (its rows: trades, params, orders, fills)
    k_min = int(s.get("min_trades_rank") or 0)
    ranked = rank(run["stocks"], "sharpe", min_trades=k_min).head(top)
    if "recommended" in ranked:
        ranked["recommended"] = ranked["recommended"].map({True: "yes", False: ""})
    what = "attribution rows (portfolio mode)" if s.get("mode") == "portfolio" else "stocks"
    t = Table(title=f"top {len(ranked)} of {len(run['stocks'])} {what} by Sharpe"
              + (f" (fewer than {k_min} closed trades ranked last)" if k_min else ""), title_justify="left")
    cols = ["rank", "symbol", "total_return", "buy_hold_return", "benchmark_return", "outperformance", "win_rate", "sharpe", "max_drawdown", "trades", "exposure", "recommended"]
    cols = [c for c in cols if c in ranked.columns]
    for c in cols:
        t.add_column(c, justify="left" if c == "symbol" else "right")
    for r in ranked[cols].itertuples(index=False):
        t.add_row(*[escape(_runs_fmt(c, v)) for c, v in zip(cols, r)])
    console.print(t)


def _load(target: str, run_id: str) -> dict[str, object]:
    """One run by id or unique id prefix (StoreError naming the store otherwise)."""
    from adaptrade.errors import StoreError
    from adaptrade.storage.backend import display, exists

    if not exists(target):
        raise StoreError(f"unknown run id '{run_id}' (no run store here)", file=display(target))
    with _open(target) as rs:
        return rs.load_run(rs.resolve_id(run_id))


@app.command("delete")
def runs_delete(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix of it) to remove with all its tables."),
    db: Optional[str] = typer.Option(None, "--db", help="Run store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default: Settings().db_path)."),
) -> None:
    """Delete one run (its settings, summary, stocks, trades, params, orders, fills, risk events)."""
    from rich.markup import escape

    from adaptrade.errors import StoreError
    from adaptrade.storage.backend import display, exists

    target = _runs_db(db)
    path = display(target)
    try:
        if not exists(target):
            raise StoreError(f"unknown run id '{run_id}' (no run store here)", file=path)
        with _open(target, read_only=False) as rs:
            rid = rs.resolve_id(run_id)
            rs.delete_run(rid)
    except AdaptradeError as exc:
        raise fail(exc) from None
    console.print(f"deleted run {escape(rid)} from {escape(str(path))}", highlight=False)


COMPARE_SETTINGS = ("source", "data_dir", "seed", "universe", "start", "end", "bars", "price_basis", "repair_policy", "benchmark",
                    "strategy", "rsi_period", "buy", "sell", "fill", "commission_bps", "slippage_bps", "whole_shares",
                    "initial_cash", "learning_alpha", "min_trades_to_adapt", "threshold_step", "mode", "executor")


def compare_frame(a: dict[str, object], b: dict[str, object]) -> "pd.DataFrame":  # noqa: F821
    """Rows (section, name, A, B): settings that differ (and the symbol counts), then every scalar metric side by side."""
    import pandas as pd

    sa, sb = a["settings"], b["settings"]  # type: ignore[index]
    rows: list[tuple[str, str, object, object]] = []
    keys = list(dict.fromkeys([*COMPARE_SETTINGS, *sorted(set(sa) | set(sb))]))  # type: ignore[arg-type]
    for k in keys:
        if k in ("symbols", "notes", "failed_batches", "failed_symbols"):
            continue
        va, vb = sa.get(k), sb.get(k)  # type: ignore[union-attr]
        if va != vb and not isinstance(va, (dict, list)) and not isinstance(vb, (dict, list)):
            rows.append(("setting", k, va, vb))
    syms_a, syms_b = set(sa.get("symbols") or []), set(sb.get("symbols") or [])  # type: ignore[union-attr]
    if syms_a != syms_b:
        rows.append(("setting", "symbols", f"{len(syms_a)} ({len(syms_a - syms_b)} not in B)", f"{len(syms_b)} ({len(syms_b - syms_a)} not in A)"))
    agg = lambda r: (r["summary"].get("aggregate") if isinstance(r["summary"].get("aggregate"), dict) else r["summary"])  # type: ignore[union-attr]  # noqa: E731
    ma, mb = agg(a), agg(b)
    for k in dict.fromkeys([*ma, *mb]):
        va, vb = ma.get(k), mb.get(k)
        if isinstance(va, (int, float, type(None))) and isinstance(vb, (int, float, type(None))) and not (va is None and vb is None):
            rows.append(("metric", k, va, vb))
    return pd.DataFrame(rows, columns=["section", "name", str(a["id"]), str(b["id"])])


@app.command("compare")
def runs_compare(
    run_a: str = typer.Argument(..., help="First run id (or unique prefix)."),
    run_b: str = typer.Argument(..., help="Second run id (or unique prefix)."),
    db: Optional[str] = typer.Option(None, "--db", help="Run store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default: Settings().db_path)."),
    fmt: str = format_option(),
) -> None:
    """Two runs side by side: the settings that differ, then their metrics."""
    from rich.markup import escape
    from rich.table import Table

    path = _runs_db(db)
    try:
        check_format(fmt)
        a, b = _load(path, run_a), _load(path, run_b)
    except AdaptradeError as exc:
        raise fail(exc) from None
    df = compare_frame(a, b)

    def table() -> Table:
        t = Table(title=f"run {a['id']} (A) vs run {b['id']} (B)", title_justify="left")
        for c, just in (("", "left"), ("name", "left"), ("A", "right"), ("B", "right")):
            t.add_column(c, justify=just)  # type: ignore[arg-type]
        if not (df["section"] == "setting").any():
            t.add_row("setting", "(all the same)", "", "")
        for r in df.itertuples(index=False):
            t.add_row(r[0], escape(r[1]), escape(_runs_fmt(r[1], r[2])), escape(_runs_fmt(r[1], r[3])))
        return t

    emit(console, df, fmt, table)
