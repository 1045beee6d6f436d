"""Portfolio results as tables: per-stock attribution (stocks/trades/params via build_result),
the account curve, orders, fills, order state history and risk events; and the extra files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adaptrade.backtest.engine import EngineOutput
from adaptrade.backtest.kernel import T_EXIT_T, T_SYMBOL
from adaptrade.portfolio.engine import CURVES, PortfolioOutput
from adaptrade.portfolio.layout import (
    EXIT_REASONS,
    F_COMMISSION,
    F_IMPACT_BPS,
    F_ORDER,
    F_PX,
    F_QTY,
    F_SIDE,
    F_SYM,
    F_T,
    H_FILLED,
    H_ORDER,
    H_STATUS,
    H_T,
    H_WHEN,
    O_AVG_PX,
    O_CREATED_T,
    O_EST_COST_BPS,
    O_FILLED,
    O_FILLED_NOTIONAL,
    O_LAST_T,
    O_LIMIT,
    O_NOTIONAL,
    O_QTY,
    O_REASON,
    O_SIDE,
    O_STATUS,
    O_SYM,
    O_TIF,
    O_TYPE,
    RE_AFTER,
    RE_BEFORE,
    RE_RULE,
    RE_SYM,
    RE_T,
    PT_EXIT_REASON,
    PT_PAPER,
)
from adaptrade.backtest.results import BacktestResult, build_result
from adaptrade.execution.orders import (
    ORDER_REASONS,
    ORDER_TYPES,
    STATUS,
    TIFS,
    client_order_id,
)
from adaptrade.risk.limits import RULES

ORDER_COLUMNS = ["order_id", "symbol", "side", "quantity", "order_type", "limit_price", "created", "status",
                 "time_in_force", "notional", "filled_quantity", "filled_notional", "avg_fill_price", "reason", "est_cost_bps", "last_update"]
FILL_COLUMNS = ["order_id", "symbol", "side", "quantity", "price", "timestamp", "commission", "impact_bps"]
OPEN_TIME, CLOSE_TIME = "T09:30:00", "T16:00:00"  # daily bars: fills at the open, orders/cancels at the close


@dataclass(frozen=True)
class PortfolioResult:
    """One portfolio run: the per-stock attribution as a BacktestResult plus the account tables."""

    output: PortfolioOutput
    result: BacktestResult  # stocks.csv / trades.csv / params.csv / equity.parquet views (attribution)
    account: pd.DataFrame  # date, equity, cash, gross, drawdown, breaker
    orders: pd.DataFrame
    fills: pd.DataFrame
    history: pd.DataFrame  # order_id, timestamp, status, filled_quantity
    events: pd.DataFrame  # date, symbol, rule, before, after
    trades_all: pd.DataFrame  # real and paper trades with exit reasons
    risk_free_rate: float = 0.0

    def aggregate(self) -> dict[str, Any]:
        """summary.json `aggregate` in portfolio mode: the account beside equal-weight buy-and-hold and the benchmark."""
        from adaptrade.portfolio.account import account_aggregate

        out, cfg = self.output, self.output.config
        f = out.fills
        value = float((f[:, F_QTY] * f[:, F_PX]).sum()) if len(f) else 0.0
        return account_aggregate(out.equity, out.bars, out.curves[2], value, self.result.benchmark_close,
                                 self.result.benchmark_symbol, out.limits.initial_cash, cfg.slippage_bps / 1e4,
                                 cfg.commission_bps / 1e4, self.risk_free_rate)

    def attribution(self, sectors: dict[str, str] | None = None) -> pd.DataFrame:
        """attribution.csv: symbol, sector, pnl, contribution, trades, win_rate, exposure."""
        from adaptrade.portfolio.account import attribution_frame

        return attribution_frame(self.result.stocks, self.output.limits.initial_cash, sectors)

    def order_history(self, order_id: str) -> pd.DataFrame:
        """Every state the order went through (new, partially_filled, filled, cancelled, rejected)."""
        return self.history[self.history["order_id"] == order_id].reset_index(drop=True)

    def account_summary(self) -> dict[str, Any]:
        """The account block of summary.json."""
        return account_summary(self)


def _ts(dates: np.ndarray, t: np.ndarray, when: str | np.ndarray) -> np.ndarray:
    """ISO timestamps of bar indices (dates at the open or the close)."""
    d = np.datetime_as_string(dates[t.astype(np.intp)], unit="D").astype(object)
    return d + when


def _orders_frame(out: PortfolioOutput, ids: np.ndarray) -> pd.DataFrame:
    o, sym, dates = out.orders, np.array(out.bars.symbols, dtype=object), out.bars.dates
    return pd.DataFrame({
        "order_id": ids,
        "symbol": sym[o[:, O_SYM].astype(np.intp)] if len(o) else np.array([], dtype=object),
        "side": np.where(o[:, O_SIDE] > 0, "buy", "sell"),
        "quantity": o[:, O_QTY],
        "order_type": np.array(ORDER_TYPES, dtype=object)[o[:, O_TYPE].astype(np.intp)],
        "limit_price": o[:, O_LIMIT],
        "created": _ts(dates, o[:, O_CREATED_T], CLOSE_TIME),
        "status": np.array(STATUS, dtype=object)[o[:, O_STATUS].astype(np.intp)],
        "time_in_force": np.array(TIFS, dtype=object)[o[:, O_TIF].astype(np.intp)],
        "notional": o[:, O_NOTIONAL],
        "filled_quantity": o[:, O_FILLED],
        "filled_notional": o[:, O_FILLED_NOTIONAL],
        "avg_fill_price": o[:, O_AVG_PX],
        "reason": np.array(ORDER_REASONS, dtype=object)[o[:, O_REASON].astype(np.intp)],
        "est_cost_bps": o[:, O_EST_COST_BPS],
        "last_update": _ts(dates, o[:, O_LAST_T], ""),
    }, columns=ORDER_COLUMNS)


def incomplete(orders: pd.DataFrame) -> pd.Series:
    """Orders not complete in their own unit: share orders below `quantity`, notional orders below `notional`."""
    notional = orders["quantity"].isna()
    short_qty = orders["filled_quantity"] < orders["quantity"] * (1.0 - 1e-9)
    short_cash = orders["filled_notional"] < orders["notional"] * (1.0 - 1e-9)
    return (notional & short_cash) | (~notional & short_qty)


def build_portfolio_result(out: PortfolioOutput, benchmark_close: np.ndarray | None, benchmark_symbol: str,
                           *, risk_free_rate: float = 0.0, min_sharpe: float = 2.0, min_win_rate: float = 0.85, min_trades: int = 10,
                           settings: dict[str, Any] | None = None) -> PortfolioResult:
    """Tables of one portfolio run; stocks.csv rows are each stock's attribution (P&L / starting cash)."""
    bars, dates = out.bars, out.bars.dates
    sym = np.array(bars.symbols, dtype=object)
    real = out.trades[out.trades[:, PT_PAPER] == 0.0]
    eng = EngineOutput(bars=bars, config=out.config, equity=out.sleeve_equity(), signal=out.signal,
                       in_market=out.in_market, trades=real[:, :8].copy(), changes=out.changes, final_states=out.final_states)
    info = dict(settings or {})
    result = build_result(eng, benchmark_close, benchmark_symbol, risk_free_rate=risk_free_rate,
                          min_sharpe=min_sharpe, min_win_rate=min_win_rate, min_trades=min_trades, settings=info)
    ids = np.array([client_order_id(sym[int(s)], str(dates[int(c)]), k)
                    for k, (s, c) in enumerate(zip(out.orders[:, O_SYM], out.orders[:, O_CREATED_T]))], dtype=object)
    f, h, e = out.fills, out.history, out.events
    fills = pd.DataFrame({
        "order_id": ids[f[:, F_ORDER].astype(np.intp)] if len(f) else np.array([], dtype=object),
        "symbol": sym[f[:, F_SYM].astype(np.intp)] if len(f) else np.array([], dtype=object),
        "side": np.where(f[:, F_SIDE] > 0, "buy", "sell"), "quantity": f[:, F_QTY], "price": f[:, F_PX],
        "timestamp": _ts(dates, f[:, F_T], OPEN_TIME), "commission": f[:, F_COMMISSION], "impact_bps": f[:, F_IMPACT_BPS],
    }, columns=FILL_COLUMNS)
    history = pd.DataFrame({
        "order_id": ids[h[:, H_ORDER].astype(np.intp)] if len(h) else np.array([], dtype=object),
        "timestamp": _ts(dates, h[:, H_T], np.where(h[:, H_WHEN] == 0, OPEN_TIME, CLOSE_TIME).astype(object)),
        "status": np.array(STATUS, dtype=object)[h[:, H_STATUS].astype(np.intp)],
        "filled_quantity": h[:, H_FILLED],
    })
    events = pd.DataFrame({
        "date": _ts(dates, e[:, RE_T], ""),
        "symbol": np.where(e[:, RE_SYM] < 0, "ACCOUNT", sym[np.maximum(e[:, RE_SYM], 0).astype(np.intp)] if len(e) else ""),
        "rule": np.array(RULES, dtype=object)[e[:, RE_RULE].astype(np.intp)],
        "before": e[:, RE_BEFORE], "after": e[:, RE_AFTER],
    })
    account = pd.DataFrame({"date": np.datetime_as_string(dates, unit="D"), **{k: out.curves[j] for j, k in enumerate(CURVES)}})
    account["drawdown"] = -account["drawdown"]  # one sign for every reported drawdown: negative (adaptrade.stats)
    account["breaker"] = account["breaker"].astype(bool)
    tr = out.trades
    trades_all = pd.DataFrame({
        "symbol": sym[tr[:, T_SYMBOL].astype(np.intp)] if len(tr) else np.array([], dtype=object),
        "entry_date": _ts(dates, tr[:, 1], ""),
        "exit_date": np.where(tr[:, T_EXIT_T] >= 0, _ts(dates, np.maximum(tr[:, T_EXIT_T], 0), ""), ""),
        "entry_price": tr[:, 3], "exit_price": tr[:, 4], "shares": tr[:, 5], "pnl": tr[:, 6], "return": tr[:, 7],
        "paper": tr[:, PT_PAPER] != 0.0,
        "exit_reason": np.array(EXIT_REASONS, dtype=object)[tr[:, PT_EXIT_REASON].astype(np.intp)],
    })
    st = result.stocks  # attribution rows: no stock's share of the account is a strategy that beat anything
    for col in ("outperformance", "excess_vs_buy_hold"):
        st[col] = np.nan
    st["recommended"] = False
    return PortfolioResult(out, result, account, _orders_frame(out, ids), fills, history, events, trades_all, risk_free_rate)


def account_summary(pr: PortfolioResult) -> dict[str, Any]:
    """Account-level numbers: return, Sharpe (risk-free convention of adaptrade.stats), drawdown (negative),
    exposure, orders, fills, rules fired."""
    from adaptrade import stats

    eq = pr.output.equity
    r = stats.simple_returns(np.ascontiguousarray(eq, dtype=np.float64))
    sr = stats.sharpe(r, stats.daily_rf(pr.risk_free_rate)) if len(r) > 1 else float("nan")
    o = pr.orders
    return {
        "initial_cash": pr.output.limits.initial_cash,
        "final_equity": float(eq[-1]) if len(eq) else None,
        "total_return": float(eq[-1] / eq[0] - 1.0) if len(eq) else None,
        "sharpe": float(sr) if np.isfinite(sr) else None,
        "max_drawdown": float(stats.max_drawdown(r)) if len(eq) else None,
        "mean_gross": float(pr.account["gross"].mean()) if len(eq) else None,
        "max_gross": float(pr.account["gross"].max()) if len(eq) else None,
        "orders": len(o), "fills": len(pr.fills),
        "orders_unfilled": int(((o["status"] == "cancelled") & incomplete(o)).sum()),
        "trades": int((~pr.trades_all["paper"]).sum()), "paper_trades": int(pr.trades_all["paper"].sum()),
        "rules_fired": {k: int(v) for k, v in pr.events["rule"].value_counts().sort_index().items()},
        "breaker_events": pr.events.loc[pr.events["rule"].isin(["breaker_tripped", "breaker_reset"]), ["date", "rule", "before"]]
        .rename(columns={"before": "drawdown"}).to_dict("records"),
        "attribution_note": "stocks.csv total_return = the stock's P&L / starting cash (its contribution to the account return)",
    }


def write_portfolio_files(pr: PortfolioResult, out_dir: Path) -> list[Path]:
    """orders.csv, fills.csv, order_history.csv, risk_events.csv, account.csv, trades_all.csv beside the usual files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in (("orders.csv", pr.orders), ("fills.csv", pr.fills), ("order_history.csv", pr.history),
                     ("risk_events.csv", pr.events), ("account.csv", pr.account), ("trades_all.csv", pr.trades_all)):
        tmp = out_dir / f".{name}.tmp"
        df.to_csv(tmp, index=False)
        tmp.replace(out_dir / name)
        written.append(out_dir / name)
    return written
