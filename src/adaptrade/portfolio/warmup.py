"""Where Kelly's first statistics come from (setting `kelly_warmup_from`, flag `--warmup-from`).

Default: paper trades on the run's own data (each strategy follows its signals on paper until it has
`kelly_min_trades` closed trades, so the account may sit out for years). Alternative: the online
statistics a strategy learned on an *earlier* period — each stock's strategy runs per stock over that
period, and the portfolio starts from its learned state (RSI period, thresholds, vol scalar, EMAs of
return / vol / win, trade counts) and its EMAs of winning and losing trade returns (Kelly's W and L).
The period must end before the run starts: nothing of the run's own bars is read."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from adaptrade.backtest.engine import initial_states, run_backtest
from adaptrade.backtest.kernel import T_EXIT_T, T_RETURN, T_SYMBOL
from adaptrade.data.bars import Bars
from adaptrade.errors import ConfigError
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import LEARNED_SLOTS, S_N_TRADES

_PERIOD = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})\s*$")


def parse_period(text: str) -> tuple[str, str] | None:
    """'START..END' as two ISO dates; None when `text` is not a period (then it names a stored run)."""
    m = _PERIOD.match(text)
    if not m:
        return None
    if m.group(1) > m.group(2):
        raise ConfigError(f"warm-up period {text!r} ends before it starts", field="kelly_warmup_from")
    return m.group(1), m.group(2)


@dataclass(frozen=True)
class WarmStart:
    """Start states and Kelly sizes for a portfolio run, learned on an earlier period."""

    states: np.ndarray  # [symbol, STATE_SIZE]
    sizes: np.ndarray  # [symbol, 2]: EMA of winning / losing trade returns (NaN: none seen)
    start: str
    end: str
    trades: np.ndarray  # [symbol] closed trades learned from

    def describe(self) -> str:
        """One line for the terminal and summary.json."""
        return (f"online statistics learned on {self.start} .. {self.end} "
                f"({int(self.trades.sum())} closed trades, median {float(np.median(self.trades)) if len(self.trades) else 0:g} per stock)")


def size_emas(symbol: np.ndarray, exit_t: np.ndarray, ret: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """EMA of winning and of losing trade returns per stock, in exit order (as the portfolio loop keeps them)."""
    out = np.full((n, 2), np.nan)
    for k in np.lexsort((exit_t, symbol)):
        i, r = int(symbol[k]), float(ret[k])
        j, x = (0, r) if r > 0.0 else (1, -r)
        out[i, j] = x if math.isnan(out[i, j]) else alpha * x + (1.0 - alpha) * out[i, j]
    return out


def learn_earlier(warm: Bars, symbols: tuple[str, ...], config: StrategyConfig, run_start: np.datetime64) -> WarmStart:
    """Run each stock's strategy over `warm` (an earlier period) and return what the portfolio starts from."""
    if warm.n_bars == 0:
        raise ConfigError("the warm-up period has no bars", field="kelly_warmup_from")
    if warm.dates[-1] >= run_start:
        raise ConfigError(f"the warm-up period must end before the run starts ({warm.dates[-1]} >= {run_start})",
                          field="kelly_warmup_from")
    out = run_backtest(warm, config)
    tr = out.trades
    closed = tr[:, T_EXIT_T] >= 0
    sizes_w = size_emas(tr[closed, T_SYMBOL], tr[closed, T_EXIT_T], tr[closed, T_RETURN], warm.n_symbols, config.learning_alpha)
    states = initial_states(len(symbols), config)
    sizes = np.full((len(symbols), 2), np.nan)
    trades = np.zeros(len(symbols))
    where = {s: k for k, s in enumerate(warm.symbols)}
    idx = list(LEARNED_SLOTS)
    final = out.final_states
    for i, s in enumerate(symbols):
        k = where.get(s)
        if k is None or final is None:
            continue
        states[i, idx] = final[k, idx]
        sizes[i] = sizes_w[k]
        trades[i] = final[k, S_N_TRADES]
    return WarmStart(states, sizes, str(warm.dates[0]), str(warm.dates[-1]), trades)
