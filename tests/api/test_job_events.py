"""A job's events built batch by batch (api.job_events) and the portfolio engine's stepped path with progress."""

from __future__ import annotations

import numpy as np
import pytest

from adaptrade.api.job_events import JobEvents, batch_fills, batch_params


@pytest.fixture(scope="module")
def small_run():  # noqa: ANN201
    from adaptrade.parallel.runner import RunRequest, run
    from adaptrade.settings import Settings

    seen = []
    settings = Settings(executor="serial", batch_size=3)
    result, loaded = run(RunRequest(source="synthetic", stocks=7, bars=600, seed=4), settings,
                         on_batch=lambda o, done: seen.append((o, done)))
    return result, loaded, seen


def test_batches_give_every_fill_and_parameter_change_of_the_run(small_run) -> None:  # noqa: ANN001
    result, loaded, seen = small_run
    assert [done for _, done in seen] == [3, 6, 7]
    fills = [f for o, _ in seen for f in batch_fills(o.result.trades, o.symbols, loaded.bars.dates, cap=10**6)]
    tr = result.trades
    assert len(fills) == len(tr) + int(tr["exit_date"].notna().sum())
    buys = sorted((f["symbol"], f["date"], f["price"]) for f in fills if f["side"] == "buy")
    assert buys == sorted((str(r.symbol), str(r.entry_date)[:10], float(r.entry_price)) for r in tr.itertuples())
    params = [p for o, _ in seen for p in batch_params(o.result.changes, o.symbols, loaded.bars.dates, cap=10**6)]
    assert len(params) == len(result.params)
    assert sorted((p["symbol"], p["parameter"], p["date"]) for p in params) == sorted(
        (str(r.symbol), r.parameter, str(r.date)[:10]) for r in result.params.itertuples())
    capped = batch_fills(seen[0][0].result.trades, seen[0][0].symbols, loaded.bars.dates, cap=5)
    assert len(capped) == 5 and [f["date"] for f in capped] == sorted(f["date"] for f in capped)  # the latest 5, oldest first


def test_running_mean_equity_matches_the_run(small_run) -> None:  # noqa: ANN001
    result, loaded, seen = small_run
    ev = JobEvents(loaded.bars.dates, 100_000.0)
    out = [ev.batch(o.symbols, o.result, done) for o, done in seen]
    last = [d for k, d in out[-1] if k == "equity"][0]
    assert last["stocks"] == 7
    assert last["mean_equity_multiple"] == pytest.approx(1.0 + float(result.stocks["total_return"].mean()), rel=1e-9)


def test_portfolio_stepped_with_progress_is_the_same_run() -> None:
    from adaptrade.data.synthetic import generate
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.strategy.params import StrategyConfig

    bars = generate([f"P{i}" for i in range(5)], 400, seed=9)
    cfg = StrategyConfig(fill="next_open")
    calls: list[tuple[int, int]] = []
    a = run_portfolio_backtest(bars, cfg)
    b = run_portfolio_backtest(bars, cfg, progress=lambda t, T: calls.append((t, T)))
    assert calls[-1] == (400, 400) and len(calls) == 20 and [t for t, _ in calls] == sorted(t for t, _ in calls)
    for name in ("curves", "pnl", "orders", "fills", "trades", "changes", "events"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
