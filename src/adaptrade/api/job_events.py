"""The events a backtest job publishes while it runs: after each batch of stocks its fills, parameter
changes and the running mean equity, bounded per batch (the latest `BATCH_FILLS` fills and
`BATCH_PARAMS` parameter changes by date), built in the job process from the batch's engine arrays and
sent to the service, which adds the job id and publishes them on the stream. A run id does not exist
until the finished run is stored, so these events carry `run_id: null`; the job's `done` event and the
final `equity` event name it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from adaptrade.backtest.kernel import (C_NEW, C_OLD, C_PARAM, C_REASON, C_SYMBOL, C_T, T_ENTRY_PRICE, T_ENTRY_T, T_EXIT_PRICE, T_EXIT_T,
                                       T_SHARES, T_SYMBOL)
from adaptrade.strategy.state import PARAM_NAMES, REASONS

BATCH_FILLS = 100  # latest fills of one batch sent to the stream
BATCH_PARAMS = 50  # latest parameter changes of one batch
Event = tuple[str, dict[str, Any]]


def _day(dates: np.ndarray, t: float) -> str:
    return str(np.datetime_as_string(dates[int(t)], unit="D"))


def _num(x: float) -> float | None:
    v = float(x)
    return v if np.isfinite(v) else None


def batch_fills(trades: np.ndarray, symbols: tuple[str, ...], dates: np.ndarray, cap: int = BATCH_FILLS) -> list[dict[str, Any]]:
    """The batch's fills (a buy at each trade's entry, a sell at each exit), the latest `cap` by date, oldest first."""
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for k, tr in enumerate(trades):
        sym, shares = symbols[int(tr[T_SYMBOL])], _num(tr[T_SHARES])
        rows.append((int(tr[T_ENTRY_T]), 2 * k, {"symbol": sym, "side": "buy", "date": _day(dates, tr[T_ENTRY_T]),
                                                 "price": _num(tr[T_ENTRY_PRICE]), "shares": shares}))
        if tr[T_EXIT_T] >= 0:
            rows.append((int(tr[T_EXIT_T]), 2 * k + 1, {"symbol": sym, "side": "sell", "date": _day(dates, tr[T_EXIT_T]),
                                                        "price": _num(tr[T_EXIT_PRICE]), "shares": shares}))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows[-cap:]] if cap > 0 else []


def batch_params(changes: np.ndarray, symbols: tuple[str, ...], dates: np.ndarray, cap: int = BATCH_PARAMS) -> list[dict[str, Any]]:
    """The batch's parameter changes (the params table's columns), the latest `cap` by date, oldest first."""
    if cap <= 0 or len(changes) == 0:
        return []
    order = np.argsort(changes[:, C_T], kind="stable")[-cap:]
    return [{"symbol": symbols[int(c[C_SYMBOL])], "date": _day(dates, c[C_T]), "parameter": PARAM_NAMES[int(c[C_PARAM])],
             "old_value": _num(c[C_OLD]), "new_value": _num(c[C_NEW]), "reason": REASONS[int(c[C_REASON])]} for c in changes[order]]


def last_multiples(equity: np.ndarray, initial_cash: float) -> np.ndarray:
    """Each stock's last finite equity as a multiple of the start (NaN for a stock without any)."""
    finite = np.isfinite(equity)
    idx = equity.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)
    last = equity[np.arange(equity.shape[0]), idx]
    return np.where(finite.any(axis=1), last / initial_cash, np.nan)


@dataclass
class JobEvents:
    """Builds a per-stock job's events batch by batch (keeps the running mean equity of the stocks done)."""

    dates: np.ndarray
    initial_cash: float
    _sum: float = 0.0
    _n: int = 0

    def batch(self, symbols: tuple[str, ...], result: Any, done: int) -> list[Event]:
        """Events of one finished batch (engine BatchResult with local symbol indices)."""
        out: list[Event] = [("fill", f) for f in batch_fills(result.trades, symbols, self.dates)]
        out += [("param", p) for p in batch_params(result.changes, symbols, self.dates)]
        m = last_multiples(result.equity, self.initial_cash)
        m = m[np.isfinite(m)]
        self._sum, self._n = self._sum + float(m.sum()), self._n + len(m)
        out.append(("equity", {"stocks": done, "mean_equity_multiple": self._sum / self._n if self._n else None}))
        return out


CHECKPOINT_FILLS = 100  # latest new fills of one portfolio checkpoint sent to the stream
CHECKPOINT_PARAMS = 50  # latest new parameter changes of one checkpoint


@dataclass
class PortfolioJobEvents:
    """Builds a portfolio job's events at each checkpoint of the account loop (about 20 a run): the fills and
    parameter changes recorded since the previous checkpoint (the latest CHECKPOINT_FILLS / CHECKPOINT_PARAMS
    of them) and the account at the checkpoint's bar. Read from the loop's record buffers by row index, so a
    row (and an account checkpoint) is sent once even when a full buffer makes the loop start over (its rows
    repeat in the same order). A fill names its order by the stored run's client order id; a fill whose order
    row did not fit the order buffer waits for that rerun."""

    symbols: tuple[str, ...]
    dates: np.ndarray
    initial_cash: float
    _fills: int = 0
    _changes: int = 0
    _bars: int = 0

    def checkpoint(self, t: int, bufs: dict[str, np.ndarray], counts: np.ndarray, curves: np.ndarray) -> list[Event]:
        """Events of the bars up to `t` (bars stepped) not sent yet; the account event names bar t-1."""
        from adaptrade.execution.orders import client_order_id
        from adaptrade.portfolio.engine import CURVES
        from adaptrade.portfolio.layout import F_ORDER, F_PX, F_QTY, F_SIDE, F_SYM, F_T, N_CHANGES, N_FILLS, O_CREATED_T, O_SYM

        orders = bufs["orders"]
        nf = min(int(counts[N_FILLS]), len(bufs["fills"]))
        new = bufs["fills"][self._fills:nf]
        missing = np.flatnonzero(new[:, F_ORDER] >= len(orders))  # the order's row did not fit: it comes in the rerun
        if len(missing):
            new = new[: missing[0]]
        self._fills += len(new)

        def oid(k: int) -> str:  # the id build_portfolio_result gives the order
            return client_order_id(self.symbols[int(orders[k, O_SYM])], str(self.dates[int(orders[k, O_CREATED_T])]), k)

        out: list[Event] = [("fill", {"symbol": self.symbols[int(f[F_SYM])], "side": "buy" if f[F_SIDE] > 0 else "sell",
                                      "date": _day(self.dates, f[F_T]), "price": _num(f[F_PX]), "shares": _num(f[F_QTY]),
                                      "order_id": oid(int(f[F_ORDER]))})
                            for f in new[-CHECKPOINT_FILLS:]]
        nc = min(int(counts[N_CHANGES]), len(bufs["changes"]))
        changes = bufs["changes"][self._changes:nc]
        self._changes = max(self._changes, nc)
        out += [("param", p) for p in batch_params(changes, self.symbols, self.dates, CHECKPOINT_PARAMS)]
        if t > self._bars:  # a loop that starts over repeats its earlier checkpoints: their account went out already
            self._bars = t
            last = t - 1
            eq = float(curves[CURVES.index("equity"), last])
            out.append(("equity", {"account": "portfolio", "date": _day(self.dates, last), "bars": t, "equity": _num(eq),
                                   "equity_multiple": _num(eq / self.initial_cash),
                                   "drawdown": _num(abs(curves[CURVES.index("drawdown"), last])),
                                   "breaker": bool(curves[CURVES.index("breaker"), last] > 0)}))
        return out
