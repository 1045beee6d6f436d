"""Per-stock metrics of `build_result(...).stocks` against empyrical-reloaded.

Reference inputs: the daily simple returns of the account value `output.equity[i]` between
consecutive valid bars of symbol i. empyrical subtracts `risk_free` per period as given, so it
gets the same daily rate adaptrade derives from the annual one: (1 + rf) ** (1 / 252) - 1.
Sharpe = sharpe_ratio (annualised with 252, ddof=1), max drawdown = max_drawdown,
total return = cum_returns_final. Tolerance 1e-9.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import empyrical
import numpy as np
import pytest

from adaptrade.backtest.engine import run_backtest
from adaptrade.backtest.results import build_result
from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.strategy.params import StrategyConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import peers  # noqa: E402

TOL = 1e-9
RATES = (0.0, 0.02)
CONFIGS = {
    "adaptive-costs": StrategyConfig(),
    "fixed-whole-zero-cost": StrategyConfig(kind="fixed", whole_shares=True, commission_bps=0, slippage_bps=0),
    "fixed-close-fill": StrategyConfig(kind="fixed", rsi_period=10, buy=35, sell=65, fill="close"),
}


def _with_holes(bars: Bars) -> Bars:
    """Symbol 1 starts 300 bars late (leading invalid bars), symbol 2 misses scattered sessions."""
    arrays = {k: getattr(bars, k).copy() for k in ("open", "high", "low", "close", "volume")}
    valid = bars.valid.copy()
    valid[1, :300] = False
    rng = np.random.default_rng(3)
    valid[2, rng.choice(np.arange(50, bars.n_bars), size=40, replace=False)] = False
    for a in arrays.values():
        a[~valid] = np.nan
    return Bars(dates=bars.dates, symbols=bars.symbols, valid=valid, **arrays)


def _synthetic() -> Bars:
    return _with_holes(generate(["AAA", "LATE", "HOLES", "DDD"], 1200, seed=11))


def _real() -> Bars | None:
    frames = {}
    for sym, start in (("AAPL", "2014-03-10"), ("INTC", "2014-03-10"), ("MSFT", "2019-06-03")):
        df = peers.load_daily(sym, start, "2024-03-08")
        if df is None or len(df) < 300:
            return None
        frames[sym] = df
    return Bars.from_frames(frames)  # MSFT: leading invalid bars on the union calendar


def _reference(output, i: int, rf: float) -> dict[str, float]:
    eq = output.equity[i, output.bars.valid[i]]
    r = eq[1:] / eq[:-1] - 1.0
    rf_daily = (1.0 + rf) ** (1.0 / 252) - 1.0
    return {
        "sharpe": float(empyrical.sharpe_ratio(r, risk_free=rf_daily, period="daily")),
        "max_drawdown": float(empyrical.max_drawdown(r)),
        "total_return": float(empyrical.cum_returns_final(r)),
    }


def _check(bars: Bars, config: StrategyConfig) -> int:
    output = run_backtest(bars, config)
    n_checked = 0
    for rf in RATES:
        stocks = build_result(output, None, "SPY", risk_free_rate=rf).stocks
        for i, sym in enumerate(bars.symbols):
            ref = _reference(output, i, rf)
            row = stocks.iloc[i]
            assert row["symbol"] == sym
            for key, want in ref.items():
                got = float(row[key])
                assert math.isclose(got, want, rel_tol=TOL, abs_tol=TOL), f"{sym} {key} rf={rf}: adaptrade {got!r} vs empyrical {want!r}"
                n_checked += 1
    return n_checked


@pytest.mark.parametrize("name", list(CONFIGS))
def test_metrics_match_empyrical_synthetic(name):
    bars = _synthetic()
    assert not bars.valid[1, :300].any() and bars.valid[1, 300:].all()
    assert _check(bars, CONFIGS[name]) == 2 * 4 * 3


def test_metrics_match_empyrical_real():
    bars = _real()
    if bars is None:
        pytest.skip("real data not found")
    assert not bars.valid[2, 0]  # MSFT starts later on the union calendar
    for config in CONFIGS.values():
        _check(bars, config)


def test_leading_invalid_bars_are_not_returns():
    """The late symbol's metrics equal those of the same bars run without the leading gap."""
    bars = _synthetic()
    late = bars.select(["LATE"])
    trimmed = late.slice_dates(start=bars.dates[300])
    assert trimmed.valid.all()
    config = CONFIGS["adaptive-costs"]
    a = build_result(run_backtest(late, config), None, "SPY", risk_free_rate=0.02).stocks.iloc[0]
    b = build_result(run_backtest(trimmed, config), None, "SPY", risk_free_rate=0.02).stocks.iloc[0]
    for key in ("sharpe", "max_drawdown", "total_return"):
        assert math.isclose(a[key], b[key], rel_tol=TOL, abs_tol=TOL), key


def test_flat_account_sharpe():
    """Never in the market: rf = 0 gives 0/0 in both (NaN). With rf > 0 the excess return is a
    constant -rf_daily: empyrical says -inf, adaptrade reports NaN (undefined) - a convention."""
    bars = generate(["FLAT"], 300, seed=1)
    config = StrategyConfig(kind="fixed", buy=1.0, sell=99.0)
    out = run_backtest(bars, config)
    assert not out.in_market.any()
    s0 = build_result(out, None, "SPY", risk_free_rate=0.0).stocks.iloc[0]
    assert math.isnan(s0["sharpe"]) and math.isnan(_reference(out, 0, 0.0)["sharpe"])
    assert s0["max_drawdown"] == 0.0 and s0["total_return"] == 0.0
    s2 = build_result(out, None, "SPY", risk_free_rate=0.02).stocks.iloc[0]
    emp = _reference(out, 0, 0.02)["sharpe"]
    assert math.isnan(s2["sharpe"]) and (math.isnan(emp) or math.isinf(emp))
