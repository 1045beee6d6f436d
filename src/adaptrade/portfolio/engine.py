"""Portfolio mode engine: every stock's strategy against one account, with execution and risk.

Features are computed once (RSI stack, volatility, ADV, Corwin-Schultz spread, log returns), then
one compiled loop (`portfolio.kernel.run_portfolio`) runs; buffers grow and the loop reruns if
they overflow, as in the per-stock engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from adaptrade.backtest.engine import Features, initial_states
from adaptrade.backtest.kernel import CHANGE_LOG_FIELDS
from adaptrade.portfolio.fills import BOOK_SIZE
from adaptrade.portfolio.kernel import portfolio_bar, portfolio_finish, portfolio_start, run_portfolio
from adaptrade.portfolio.layout import (
    ACT_ID,
    ACT_FIELDS,
    FILL_FIELDS,
    HIST_FIELDS,
    N_CHANGES,
    N_COUNTERS,
    N_EVENTS,
    N_FILLS,
    N_HIST,
    N_ORDERS,
    N_TRADES,
    ORDER_FIELDS,
    POS_AVG_LOSS,
    POS_AVG_WIN,
    POS_LAST_CLOSE,
    POS_FIELDS,
    PTRADE_FIELDS,
    RISK_EVENT_FIELDS,
)
from adaptrade.data.bars import Bars
from adaptrade.errors import ConfigError
from adaptrade.risk.limits import RiskLimits
from adaptrade.risk.rules import ACCOUNT_SIZE
from adaptrade.strategy.params import P_RSI_ROW0, PERIODS, StrategyConfig
from adaptrade.strategy.state import STATE_SIZE

CURVES = ("equity", "cash", "gross", "drawdown", "breaker")


@dataclass(frozen=True)
class PortfolioFeatures:
    """Past-only inputs of the portfolio loop beyond the strategy's: ADV, spread, log returns."""

    base: Features
    adv: np.ndarray  # [symbol, t] 20-bar average daily volume
    spread: np.ndarray  # [symbol, t] Corwin-Schultz relative spread, 20-bar mean
    ret: np.ndarray  # [symbol, t] log close-to-close return (NaN when invalid)

    @classmethod
    def compute(cls, bars: Bars, base: Features | None = None) -> PortfolioFeatures:
        from adaptrade.execution.liquidity import (
            average_daily_volume,
            corwin_schultz_spread,
        )

        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(bars.valid, bars.close, np.nan)
            ret = np.full(c.shape, np.nan)
            ret[:, 1:] = np.log(c[:, 1:] / c[:, :-1])
        return cls(
            base=base if base is not None else Features.compute(bars),
            adv=average_daily_volume(bars.volume, bars.valid, 20),
            spread=corwin_schultz_spread(bars.high, bars.low, bars.valid, 20),
            ret=ret,
        )


@dataclass(frozen=True)
class PortfolioOutput:
    """Raw output of one portfolio run: account curves, per-stock attribution and record buffers."""

    bars: Bars
    config: StrategyConfig
    limits: RiskLimits
    curves: np.ndarray  # [5, t]: equity, cash, gross exposure (share of equity), drawdown, breaker on
    pnl: np.ndarray  # [symbol, t] cumulative P&L of each stock (realised + unrealised, after costs)
    in_market: np.ndarray  # [symbol, t] bool
    signal: np.ndarray  # [symbol, t] int8
    orders: np.ndarray  # [k, ORDER_FIELDS]; row index = order sequence number
    fills: np.ndarray  # [m, FILL_FIELDS]
    history: np.ndarray  # [h, HIST_FIELDS] every order state change
    trades: np.ndarray  # [j, PTRADE_FIELDS] real and paper trades
    changes: np.ndarray  # [c, CHANGE_LOG_FIELDS] parameter log
    events: np.ndarray  # [e, RISK_EVENT_FIELDS] every risk rule that fired
    final_states: np.ndarray
    features: PortfolioFeatures | None = None  # what the loop read (reused by per-stock comparisons)

    @property
    def equity(self) -> np.ndarray:
        """Account equity at each close."""
        return self.curves[0]

    def sleeve_equity(self) -> np.ndarray:
        """Per-stock attribution as an equity curve: starting cash + that stock's cumulative P&L."""
        return self.limits.initial_cash + self.pnl


def run_portfolio_backtest(
    bars: Bars,
    config: StrategyConfig,
    limits: RiskLimits | None = None,
    features: PortfolioFeatures | None = None,
    states: np.ndarray | None = None,
    capacity: int | None = None,
    sizes: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: Callable[[int, dict[str, np.ndarray], np.ndarray, np.ndarray], None] | None = None,
) -> PortfolioOutput:
    """Run all symbols of `bars` against one account of `limits.initial_cash`.

    `states` / `sizes` ([symbol, 2]: EMA of winning and of losing trade returns) start the strategies and
    Kelly from statistics learned on an earlier period (`portfolio.warmup`); default: nothing learned.
    `capacity` (rows of the record buffers to start with) is for tests of the grow-and-rerun path.
    `progress(bars stepped, bars)`: called about 20 times a run (the bars are then stepped from Python,
    one compiled `portfolio_bar` call each, instead of inside `run_portfolio`; the same functions, the same result).
    `checkpoint(bars stepped, record buffers, counters, curves)`: called just before each progress call with the
    buffers as they stand (read them, never write; rows at or past a buffer's length were not recorded and come
    again when a full buffer makes the run start over with larger ones).
    """
    lim = limits if limits is not None else RiskLimits(initial_cash=config.initial_cash)
    if features is None:  # a fixed period outside the adaptive 10..21 stack gets its own RSI row (issue 11: RSI(2))
        own = config.kind == "fixed" and not PERIODS[0] <= config.rsi_period <= PERIODS[-1]
        features = PortfolioFeatures.compute(bars, Features.for_config(bars, config) if own else None)
    feats = features
    if not feats.base.covers(config):
        raise ConfigError(f"features hold RSI from {feats.base.first_period}, not what {config.kind} RSI({config.rsi_period}) reads", field="rsi_period")
    n, T = bars.close.shape
    params, risk = config.to_vector(), lim.to_vector()
    params[P_RSI_ROW0] = feats.base.first_period - PERIODS[0]
    arrs = [np.ascontiguousarray(a, dtype=np.float64) for a in (bars.open, bars.high, bars.low, bars.close, bars.volume)]
    valid = np.ascontiguousarray(bars.valid)
    start = initial_states(n, config) if states is None else np.array(states, dtype=np.float64)
    if start.shape != (n, STATE_SIZE):
        raise ConfigError(f"states must have shape {(n, STATE_SIZE)}, got {start.shape}", field="states")
    cap = capacity if capacity is not None else max(256, n * max(T // 8, 8))
    caps = {"orders": cap, "fills": 2 * cap, "hist": 3 * cap, "trades": cap, "changes": cap, "events": 2 * cap}
    while True:
        work = start.copy()
        pos = np.zeros((n, POS_FIELDS))
        pos[:, POS_LAST_CLOSE] = np.nan
        pos[:, POS_AVG_WIN] = np.nan if sizes is None else sizes[:, 0]
        pos[:, POS_AVG_LOSS] = np.nan if sizes is None else sizes[:, 1]
        act = np.zeros((n, ACT_FIELDS))
        act[:, ACT_ID] = -1.0
        curves = np.zeros((len(CURVES), T))
        pnl = np.zeros((n, T))
        in_market = np.zeros((n, T), dtype=np.bool_)
        signal = np.zeros((n, T), dtype=np.int8)
        bufs = {
            "orders": np.zeros((caps["orders"], ORDER_FIELDS)),
            "fills": np.zeros((caps["fills"], FILL_FIELDS)),
            "hist": np.zeros((caps["hist"], HIST_FIELDS)),
            "trades": np.zeros((caps["trades"], PTRADE_FIELDS)),
            "changes": np.zeros((caps["changes"], CHANGE_LOG_FIELDS)),
            "events": np.zeros((caps["events"], RISK_EVENT_FIELDS)),
        }
        counts = np.zeros(N_COUNTERS)
        book, acct = np.zeros(BOOK_SIZE), np.zeros(ACCOUNT_SIZE)
        if progress is None and checkpoint is None:
            run_portfolio(*arrs, valid, feats.base.rsi, feats.base.vol, feats.adv, feats.spread, feats.ret, params, risk,
                          work, pos, act, book, acct, curves, pnl, in_market, signal,
                          bufs["orders"], bufs["fills"], bufs["hist"], bufs["trades"], bufs["changes"], bufs["events"], counts)
        else:
            _stepped(progress, T, arrs, valid, feats, params, risk, work, pos, act, book, acct, curves, pnl, in_market, signal,
                     bufs, counts, checkpoint)
        used = {"orders": counts[N_ORDERS], "fills": counts[N_FILLS], "hist": counts[N_HIST],
                "trades": counts[N_TRADES], "changes": counts[N_CHANGES], "events": counts[N_EVENTS]}
        over = {k: int(v) for k, v in used.items() if v > caps[k]}
        if not over:
            break
        for k, v in over.items():
            caps[k] = max(caps[k] * 2, v)
    cut = {k: bufs[k][: int(used[k])].copy() for k in bufs}
    return PortfolioOutput(bars=bars, config=config, limits=lim, curves=curves, pnl=pnl, in_market=in_market,
                           signal=signal, orders=cut["orders"], fills=cut["fills"], history=cut["hist"],
                           trades=cut["trades"], changes=cut["changes"], events=cut["events"], final_states=work,
                           features=feats)


def _stepped(progress: Callable[[int, int], None] | None, T: int, arrs: list[np.ndarray], valid: np.ndarray, feats: PortfolioFeatures,
             params: np.ndarray, risk: np.ndarray, work: np.ndarray, pos: np.ndarray, act: np.ndarray, book: np.ndarray,
             acct: np.ndarray, curves: np.ndarray, pnl: np.ndarray, in_market: np.ndarray, signal: np.ndarray,
             bufs: dict[str, np.ndarray], counts: np.ndarray,
             checkpoint: Callable[[int, dict[str, np.ndarray], np.ndarray, np.ndarray], None] | None = None) -> None:
    """run_portfolio's loop, bar by bar from Python, reporting checkpoint(t, ...) then progress(t, T) every T/20 bars."""

    def report(t: int) -> None:
        if checkpoint is not None:
            checkpoint(t, bufs, counts, curves)
        if progress is not None:
            progress(t, T)

    every = max(1, T // 20)
    portfolio_start(risk, book, acct)
    for t in range(T):
        portfolio_bar(t, T, *arrs, valid, feats.base.rsi, feats.base.vol, feats.adv, feats.spread, feats.ret, params, risk, work,
                      pos, act, book, acct, curves, pnl, in_market, signal, bufs["orders"], bufs["fills"], bufs["hist"],
                      bufs["trades"], bufs["changes"], bufs["events"], counts)
        if (t + 1) % every == 0 and t + 1 < T:
            report(t + 1)
    portfolio_finish(T, arrs[3], work, pos, act, book, bufs["orders"], bufs["hist"], bufs["trades"], counts)
    report(T)
