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


@pytest.mark.parametrize("capacity", [None, 8])  # 8: full buffers make the loop start over with larger ones
def test_portfolio_checkpoints_send_every_fill_once_and_the_account(capacity) -> None:  # noqa: ANN001
    from adaptrade.api import job_events
    from adaptrade.api.job_events import PortfolioJobEvents
    from adaptrade.data.synthetic import generate
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.results import build_portfolio_result
    from adaptrade.risk.limits import RiskLimits
    from adaptrade.strategy.params import StrategyConfig

    bars = generate(["AAA", "BBB", "CCC", "DDD"], 800, seed=3)  # trades from the start (monitoring's portfolio fixture)
    cfg = StrategyConfig(fill="next_open")
    lim = RiskLimits(kelly_fraction=0.0, max_position=0.5, initial_cash=cfg.initial_cash)
    live = PortfolioJobEvents(bars.symbols, bars.dates, cfg.initial_cash)
    got: list[tuple[str, dict]] = []
    old = job_events.CHECKPOINT_FILLS, job_events.CHECKPOINT_PARAMS
    job_events.CHECKPOINT_FILLS = job_events.CHECKPOINT_PARAMS = 10**6  # no cap: every row must come exactly once
    try:
        out = run_portfolio_backtest(bars, cfg, lim, capacity=capacity, checkpoint=lambda t, b, c, cv: got.extend(live.checkpoint(t, b, c, cv)))
    finally:
        job_events.CHECKPOINT_FILLS, job_events.CHECKPOINT_PARAMS = old
    plain = run_portfolio_backtest(bars, cfg, lim)  # the checkpoints change nothing
    for name in ("curves", "orders", "fills", "trades", "changes"):
        np.testing.assert_array_equal(getattr(out, name), getattr(plain, name), err_msg=name)
    pr = build_portfolio_result(out, None, "SPY")
    fills = [d for k, d in got if k == "fill"]
    stored = [(r.order_id, r.symbol, r.side, str(r.timestamp)[:10], r.price, r.quantity) for r in pr.fills.itertuples()]
    assert [(f["order_id"], f["symbol"], f["side"], f["date"], f["price"], f["shares"]) for f in fills] == stored and stored
    params = [d for k, d in got if k == "param"]
    assert len(params) == len(pr.result.params) > 0
    acct = [d for k, d in got if k == "equity"]
    assert [a["bars"] for a in acct] == sorted({a["bars"] for a in acct}) and acct[-1]["bars"] == 800
    last = pr.account.iloc[-1]
    assert acct[-1]["equity"] == pytest.approx(float(last["equity"])) and acct[-1]["date"] == str(last["date"])[:10]
    assert acct[-1]["breaker"] == bool(last["breaker"]) and acct[-1]["drawdown"] == pytest.approx(abs(float(last["drawdown"])))


def test_portfolio_checkpoint_caps_what_it_sends() -> None:
    from adaptrade.api.job_events import CHECKPOINT_FILLS, PortfolioJobEvents
    from adaptrade.portfolio.engine import CURVES
    from adaptrade.portfolio.layout import F_PX, F_QTY, F_SIDE, F_SYM, F_T, FILL_FIELDS, N_COUNTERS, N_FILLS, ORDER_FIELDS

    dates = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    n = CHECKPOINT_FILLS + 30
    fills = np.zeros((n, FILL_FIELDS))
    fills[:, F_SYM], fills[:, F_SIDE], fills[:, F_T] = 0, 1, 1
    fills[:, F_QTY], fills[:, F_PX] = 1.0, np.arange(n, dtype=float)
    orders = np.zeros((1, ORDER_FIELDS))  # every fill is of order 0 (AAA, created on the first day)
    counts = np.zeros(N_COUNTERS)
    counts[N_FILLS] = n
    curves = np.ones((len(CURVES), 2))
    live = PortfolioJobEvents(("AAA",), dates, 1.0)
    first = live.checkpoint(2, {"fills": fills, "orders": orders, "changes": np.zeros((0, 6))}, counts, curves)
    sent = [d for k, d in first if k == "fill"]
    assert len(sent) == CHECKPOINT_FILLS and sent[-1]["price"] == n - 1 and sent[0]["price"] == 30  # the latest ones
    assert {f["order_id"] for f in sent} == {"AT-AAA-20240102-000000"}
    assert live.checkpoint(2, {"fills": fills, "orders": orders, "changes": np.zeros((0, 6))}, counts, curves) == []  # nothing twice
