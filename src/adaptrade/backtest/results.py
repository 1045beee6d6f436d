"""Backtest results as tables: stocks, trades, parameter log and equity, all views of the
engine's arrays (no per-bar Python work)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adaptrade.backtest.engine import EngineOutput
from adaptrade.backtest.kernel import (
    C_NEW,
    C_OLD,
    C_PARAM,
    C_REASON,
    C_SYMBOL,
    C_T,
    T_ENTRY_PRICE,
    T_ENTRY_T,
    T_EXIT_PRICE,
    T_EXIT_T,
    T_PNL,
    T_RETURN,
    T_SHARES,
    T_SYMBOL,
)
from adaptrade.backtest.metrics import bars_held, engine_metrics
from adaptrade.strategy.state import PARAM_NAMES, REASONS

STOCK_COLUMNS = [
    "symbol",
    "total_return",
    "buy_hold_return",
    "benchmark_return",
    "outperformance",
    "win_rate",
    "sharpe",
    "max_drawdown",
    "trades",
    "exposure",
    "recommended",
]
# appended to stocks.csv after the contract columns (issue 10): CAPM alpha (annualised) and beta vs the
# benchmark from daily excess returns, annualised return and volatility, Sortino, the stock's first/last date
STOCK_EXTRA_COLUMNS = ["alpha", "beta", "annual_return", "annual_volatility", "sortino", "start", "end"]
TRADE_COLUMNS = ["symbol", "entry_date", "entry_price", "exit_date", "exit_price", "shares", "pnl", "return", "bars_held"]
PARAM_COLUMNS = ["symbol", "date", "parameter", "old_value", "new_value", "reason"]


@dataclass(frozen=True)
class BacktestResult:
    """Everything one per-stock backtest produced, as tables plus the raw engine output."""

    output: EngineOutput
    stocks: pd.DataFrame  # one row per symbol, STOCK_COLUMNS first, then extras
    trades: pd.DataFrame
    params: pd.DataFrame
    benchmark_close: np.ndarray | None
    benchmark_symbol: str
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def dates(self) -> np.ndarray:
        return self.output.bars.dates

    def equity_long(self) -> pd.DataFrame:
        """date, symbol, equity for every valid bar (the equity.parquet table)."""
        bars = self.output.bars
        sym_idx, t_idx = np.nonzero(bars.valid)
        return pd.DataFrame(
            {
                "date": bars.dates[t_idx].astype("datetime64[ns]"),
                "symbol": pd.Categorical.from_codes(sym_idx, categories=list(bars.symbols)),
                "equity": self.output.equity[sym_idx, t_idx],
            }
        )


def build_result(
    output: EngineOutput,
    benchmark_close: np.ndarray | None,
    benchmark_symbol: str,
    *,
    risk_free_rate: float = 0.0,
    min_sharpe: float = 2.0,
    min_win_rate: float = 0.85,
    min_trades: int = 10,
    settings: dict[str, object] | None = None,
    metrics: dict[str, np.ndarray] | None = None,
) -> BacktestResult:
    """Metrics per stock and the trade / parameter tables from one engine run (`metrics`: engine_metrics of
    this output with these benchmark and risk-free rate, already computed, e.g. batch by batch)."""
    bars = output.bars
    tr = output.trades
    m = metrics if metrics is not None else engine_metrics(output, benchmark_close, risk_free_rate)
    cols: dict[str, object] = {"symbol": np.array(bars.symbols, dtype=object)}
    cols.update((col, m[col]) for col in STOCK_COLUMNS[1:-1])
    sharpe = np.nan_to_num(m["sharpe"], nan=-np.inf)
    wr = np.nan_to_num(m["win_rate"], nan=0.0)
    cols["recommended"] = (sharpe > min_sharpe) & (wr > min_win_rate) & (m["trades"] >= min_trades)
    cols["excess_vs_buy_hold"] = m["excess_vs_buy_hold"]
    cols.update((col, m[col]) for col in STOCK_EXTRA_COLUMNS[:5])
    has = np.isfinite(m["total_return"])
    cols["start"] = np.where(has, np.datetime_as_string(bars.dates[m["first_index"]], unit="D"), "")
    cols["end"] = np.where(has, np.datetime_as_string(bars.dates[m["last_index"]], unit="D"), "")
    stocks = pd.DataFrame(cols)  # one frame from all columns (not inserted one by one)
    return BacktestResult(
        output=output,
        stocks=stocks,
        trades=_trade_table(tr, bars.symbols, bars.dates, bars.valid),
        params=_param_table(output.changes, bars.symbols, bars.dates),
        benchmark_close=benchmark_close,
        benchmark_symbol=benchmark_symbol,
        settings=dict(settings or {}),
    )


def _trade_table(tr: np.ndarray, symbols: tuple[str, ...], dates: np.ndarray, valid: np.ndarray) -> pd.DataFrame:
    """trades.csv rows; bars_held counts the stock's own traded bars (to its last bar if still open)."""
    sym = tr[:, T_SYMBOL].astype(np.intp)
    entry_t = tr[:, T_ENTRY_T].astype(np.intp)
    exit_t = tr[:, T_EXIT_T].astype(np.intp)
    open_ = exit_t < 0
    exit_dates = pd.array(np.where(open_, np.datetime64("NaT"), dates[np.maximum(exit_t, 0)]), dtype="datetime64[ns]")
    return pd.DataFrame(
        {
            "symbol": pd.Categorical.from_codes(sym, categories=list(symbols)),
            "entry_date": dates[entry_t].astype("datetime64[ns]"),
            "entry_price": tr[:, T_ENTRY_PRICE],
            "exit_date": exit_dates,
            "exit_price": tr[:, T_EXIT_PRICE],
            "shares": tr[:, T_SHARES],
            "pnl": tr[:, T_PNL],
            "return": tr[:, T_RETURN],
            "bars_held": bars_held(valid, sym, entry_t, exit_t),
        }
    )


def _param_table(ch: np.ndarray, symbols: tuple[str, ...], dates: np.ndarray) -> pd.DataFrame:
    pid = ch[:, C_PARAM].astype(np.intp)
    rid = ch[:, C_REASON].astype(np.intp)
    return pd.DataFrame(
        {
            "symbol": pd.Categorical.from_codes(ch[:, C_SYMBOL].astype(np.intp), categories=list(symbols)),
            "date": dates[ch[:, C_T].astype(np.intp)].astype("datetime64[ns]"),
            "parameter": np.array(PARAM_NAMES, dtype=object)[pid] if len(pid) else np.array([], dtype=object),
            "old_value": ch[:, C_OLD],
            "new_value": ch[:, C_NEW],
            "reason": np.array(REASONS, dtype=object)[rid] if len(rid) else np.array([], dtype=object),
        }
    )
