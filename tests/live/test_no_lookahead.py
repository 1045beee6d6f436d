"""No look-ahead in the live loop: changing every bar after session k (prices and volumes) leaves
the orders, fills, trades and parameter changes decided up to k's close exactly as they were."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from adaptrade.data.synthetic import generate
from adaptrade.live.broker import SimBroker
from adaptrade.live.feeds import ReplayFeed
from adaptrade.live.loop import PaperLoop
from adaptrade.live.state import Lease
from adaptrade.strategy.params import StrategyConfig


def _run(folder: Path, bars, cfg: StrategyConfig) -> PaperLoop:  # type: ignore[no-untyped-def]
    folder.mkdir()
    broker = SimBroker(folder, cfg.initial_cash * bars.n_symbols, cfg.commission_bps, cfg.slippage_bps)
    loop = PaperLoop(folder, ReplayFeed(bars), cfg, broker, {"test": 1})
    lease = Lease(folder)
    lease.acquire("t")
    assert loop.run(lease) == "done"
    lease.release()
    return loop


def test_future_bars_do_not_change_past_decisions(tmp_path: Path) -> None:
    cfg = StrategyConfig(buy=35.0, sell=65.0, min_trades_to_adapt=1)
    bars = generate(["LA1", "LA2"], 400, seed=7, end="2023-12-29")
    k = 250
    rng = np.random.default_rng(0)
    f = np.exp(rng.normal(0.0, 0.05, bars.close[:, k + 1 :].shape))
    future = {name: getattr(bars, name).copy() for name in ("open", "high", "low", "close", "volume")}
    for name in ("open", "high", "low", "close"):
        future[name][:, k + 1 :] *= f
    future["volume"][:, k + 1 :] *= 3.0
    a = _run(tmp_path / "a", bars, cfg)
    b = _run(tmp_path / "b", replace(bars, **future), cfg)
    cut = str(bars.dates[k])

    def upto(loop: PaperLoop) -> tuple[list[object], ...]:
        orders = [o for o in loop.broker.orders() if o["created"] <= cut]
        fills = [x for x in loop.doc["fills"] if x["timestamp"][:10] <= cut]
        trades = [t for s in loop.symbols for t in loop.doc["trades"][s] if t["exit_date"] <= cut]
        changes = [c for s in loop.symbols for c in loop.doc["changes"][s] if c["date"] <= cut]
        return orders, fills, trades, changes

    before = upto(a)
    assert all(len(x) > 0 for x in before)
    # an order decided at k's close and filled at k+1 keeps its decision; its fill is at the new open
    for o in before[0]:
        if o["created"] == cut:
            o.update(status=None, filled_quantity=None, filled_notional=None, avg_fill_price=None, last_update=None)
    after = upto(b)
    for o in after[0]:
        if o["created"] == cut:
            o.update(status=None, filled_quantity=None, filled_notional=None, avg_fill_price=None, last_update=None)
    assert before == after
    assert a.doc["fills"] != b.doc["fills"]  # the future did change what came after
