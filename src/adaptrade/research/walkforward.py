"""Walk-forward evaluation: learn in-sample, score only out of sample, on rolling windows.

Windows: in-sample [s, s + is_bars), out-of-sample [s + is_bars, s + is_bars + oos_bars), and s
advances by oos_bars, so the out-of-sample windows tile the data after the first in-sample span.
Features (RSI 10..21, volatility) are computed once over the whole range; they are past-only, so
in-sample values never read out-of-sample bars (`tests/research/test_walkforward.py` proves it by
changing out-of-sample bars). Modes, for what the out-of-sample window starts from:

* `carry`: the in-sample final state's learned part (RSI period, thresholds, volatility scalar,
  EMAs of return / volatility / win, trade and win counts) with a flat position and fresh cash;
  adaptation stays on and keeps learning out of sample.
* `frozen`: the learned RSI period and the *effective* thresholds at the end of the in-sample
  window (volatility scalar applied), run in fixed mode: nothing moves out of sample.
* `reset`: a fresh strategy (nothing learned), the control: what learning in-sample adds.
* `select`: walk-forward optimisation. Every candidate configuration runs in-sample; the one
  with the best in-sample daily excess Sharpe over buy-and-hold is chosen and run out of sample
  (from its carried learned state). The in-sample figures are the chosen candidate's, so they
  carry the selection bias that the out-of-sample figures expose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from adaptrade.backtest.engine import (
    EngineOutput,
    Features,
    initial_states,
    run_backtest,
)
from adaptrade.data.bars import Bars
from adaptrade.errors import ConfigError
from adaptrade.strategy.kernel import effective_thresholds
from adaptrade.strategy.params import P_COMMISSION, P_SLIPPAGE, StrategyConfig
from adaptrade.strategy.state import (  # LEARNED_SLOTS: what `carry` keeps (re-exported)
    LEARNED_SLOTS,
    S_BUY,
    S_PERIOD_IDX,
    S_SELL,
    S_SHARES,
    S_VOL_SCALAR,
)

Mode = Literal["carry", "frozen", "reset", "select"]
MODES: tuple[str, ...] = ("carry", "frozen", "reset", "select")


@dataclass(frozen=True)
class Window:
    """One walk-forward step as bar indices: in-sample [is_start, is_end), out-of-sample [is_end, oos_end)."""

    index: int
    is_start: int
    is_end: int
    oos_end: int


def windows(n_bars: int, is_bars: int, oos_bars: int) -> list[Window]:
    """Rolling windows over n_bars; the last out-of-sample window may be shorter (>= 20 bars kept)."""
    if is_bars < 60 or oos_bars < 20:
        raise ConfigError("walk-forward needs in-sample >= 60 bars and out-of-sample >= 20 bars", field="wf_in_sample_bars")
    if n_bars < is_bars + 20:
        raise ConfigError(f"{n_bars} bars are too few for {is_bars} in-sample + 20 out-of-sample bars", field="wf_in_sample_bars")
    out, s = [], 0
    while s + is_bars + 20 <= n_bars:
        out.append(Window(len(out), s, s + is_bars, min(s + is_bars + oos_bars, n_bars)))
        s += oos_bars
    return out


def carried_states(final: np.ndarray, config: StrategyConfig) -> np.ndarray:
    """Start states for `carry`: learned slots copied from `final`, position flat and cash fresh."""
    start = initial_states(final.shape[0], config)
    idx = list(LEARNED_SLOTS)
    start[:, idx] = final[:, idx]
    return start


def frozen_states(final: np.ndarray, config: StrategyConfig) -> tuple[np.ndarray, StrategyConfig]:
    """Start states and fixed-mode config for `frozen`: learned period and effective thresholds, no adaptation."""
    fixed = replace(config, kind="fixed")
    start = initial_states(final.shape[0], fixed)
    params = config.to_vector()
    for i in range(final.shape[0]):
        buy, sell = effective_thresholds(final[i], params)
        start[i, S_PERIOD_IDX] = final[i, S_PERIOD_IDX]
        start[i, S_BUY], start[i, S_SELL] = buy, sell
    start[:, S_VOL_SCALAR] = 1.0
    return start, fixed


def _slice(bars: Bars, feats: Features, a: int, b: int) -> tuple[Bars, Features]:
    """Bars and features of bar indices [a, b) (features copied contiguous for the kernel)."""
    sub = bars.slice_dates(bars.dates[a], bars.dates[b - 1])
    return sub, Features(rsi=np.ascontiguousarray(feats.rsi[:, :, a:b]), vol=np.ascontiguousarray(feats.vol[:, a:b]))


@dataclass(frozen=True)
class WindowRun:
    """One window's in-sample and out-of-sample engine outputs."""

    window: Window
    in_sample: EngineOutput
    out_of_sample: EngineOutput
    choice: str = ""  # `select`: the chosen candidate's settings


def _select(ib: Bars, ifeat: Features, candidates: list[StrategyConfig]) -> tuple[EngineOutput, StrategyConfig, float]:
    """The candidate with the best in-sample daily excess Sharpe over buy-and-hold (ties: first), its run and SR."""
    from adaptrade.research.stats import moments
    from adaptrade.research.verdict import excess_panel, portfolio_series

    best: tuple[EngineOutput, StrategyConfig, float] | None = None
    for c in candidates:
        out = run_backtest(ib, c, ifeat)
        sr = moments(portfolio_series(excess_panel(out.equity, ib.close, ib.valid))).sharpe
        if best is None or (not math.isnan(sr) and (math.isnan(best[2]) or sr > best[2])):
            best = (out, c, sr)
    assert best is not None
    return best


def walk_forward(bars: Bars, config: StrategyConfig, is_bars: int, oos_bars: int, mode: Mode = "carry",
                 features: Features | None = None, candidates: list[StrategyConfig] | None = None) -> list[WindowRun]:
    """Run every window: learn (or, `select`, choose among `candidates`) in-sample, then score the out-of-sample bars."""
    if mode not in MODES:
        raise ConfigError(f"unknown walk-forward mode '{mode}' ({'|'.join(MODES)})", field="wf_mode")
    if mode == "select" and not candidates:
        raise ConfigError("walk-forward mode 'select' needs candidate configurations", field="wf_mode")
    feats = features if features is not None else Features.compute(bars)
    runs = []
    for w in windows(bars.n_bars, is_bars, oos_bars):
        ib, ifeat = _slice(bars, feats, w.is_start, w.is_end)
        choice = ""
        if mode == "select":
            ins, config, sr = _select(ib, ifeat, list(candidates or []))
            d = config.describe()
            choice = f"{d['strategy']} {d['rsi_period']} {d['buy']:g}/{d['sell']:g} a={d['learning_alpha']:g} (IS SR/day {sr:.3f})"
        else:
            ins = run_backtest(ib, config, ifeat)
        ob, ofeat = _slice(bars, feats, w.is_end, w.oos_end)
        final = ins.final_states if ins.final_states is not None else initial_states(bars.n_symbols, config)
        if mode in ("carry", "select"):
            oos = run_backtest(ob, config, ofeat, carried_states(final, config))
        elif mode == "frozen":
            states, fixed = frozen_states(final, config)
            oos = run_backtest(ob, fixed, ofeat, states)
        else:
            oos = run_backtest(ob, config, ofeat)
        runs.append(WindowRun(w, ins, oos, choice))
    return runs


def exit_value(out: EngineOutput) -> np.ndarray:
    """Each stock's account at its last valid close of a window with the open position sold there,
    after slippage and commission (NaN for a stock without a valid bar): what the next window starts from."""
    params = out.config.to_vector()
    valid = out.bars.valid
    has = valid.any(axis=1)
    last_t = np.where(has, valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1), 0)
    eq_last = out.equity[np.arange(valid.shape[0]), last_t]
    if out.final_states is None:
        return np.where(has, eq_last, np.nan)
    shares = np.where(has, out.final_states[:, S_SHARES], 0.0)
    mark = out.bars.close[np.arange(valid.shape[0]), last_t]
    gross = shares * mark
    net = gross * (1.0 - params[P_SLIPPAGE]) * (1.0 - params[P_COMMISSION])
    value = eq_last - np.where(shares > 0.0, gross - net, 0.0)
    return np.where(has, value, np.nan)


def stitched_oos(runs: list[WindowRun], bars: Bars) -> tuple[np.ndarray, np.ndarray]:
    """(equity, in_market) [symbol, t] over the whole range: OOS windows chained, NaN before the first OOS bar.

    Each window starts with fresh cash; chaining compounds the windows' returns into one account. A
    position open at a window's end is sold at that close with its exit costs (slippage, commission):
    the window's last bar shows that value and the next window starts from it.
    """
    n, t = bars.close.shape
    eq = np.full((n, t), np.nan)
    held = np.zeros((n, t), dtype=bool)
    level = np.ones(n)
    cash0 = runs[0].out_of_sample.config.initial_cash if runs else 1.0
    for r in runs:
        a, b = r.window.is_end, r.window.oos_end
        out = r.out_of_sample
        seg = out.equity / cash0
        end = exit_value(out) / cash0
        valid = out.bars.valid
        has = valid.any(axis=1)
        last_t = valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
        after = has[:, None] & (np.arange(valid.shape[1])[None, :] >= last_t[:, None])
        seg = np.where(after, end[:, None], seg)
        eq[:, a:b] = seg * level[:, None]
        held[:, a:b] = out.in_market
        level = np.where(has, level * np.where(has, end, 1.0), level)
    return eq * cash0, held


def _nanmean(x: np.ndarray) -> float:
    """Mean of the finite values; NaN (without a warning) when there are none."""
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _means(out: EngineOutput, bench: np.ndarray | None, initial: float) -> dict[str, float]:
    """Mean return, buy-and-hold, benchmark, Sharpe and beat-buy-and-hold share of one engine run."""
    from adaptrade.backtest.kernel import T_EXIT_T, T_RETURN, T_SYMBOL
    from adaptrade.backtest.metrics import stock_metrics

    tr = out.trades
    m = stock_metrics(out.equity, out.bars.close, out.bars.valid, out.in_market, tr[:, T_SYMBOL], tr[:, T_RETURN],
                      tr[:, T_EXIT_T] >= 0, bench, initial)
    ok = np.isfinite(m["total_return"])
    f = lambda k: _nanmean(m[k][ok])  # noqa: E731
    return {"mean_return": f("total_return"), "mean_buy_hold": f("buy_hold_return"), "mean_benchmark": f("benchmark_return"),
            "mean_sharpe": f("sharpe"), "beat_buy_hold_share": float(np.mean(m["excess_vs_buy_hold"][ok] > 0)) if ok.any() else float("nan"),
            "beat_benchmark_share": float(np.mean(m["outperformance"][ok] > 0)) if ok.any() else float("nan")}


def summarize(runs: list[WindowRun], bars: Bars, benchmark_close: np.ndarray | None, mode: str,
              trial_sharpes: list[float] | None = None, seed: int = 0) -> dict[str, object]:
    """In-sample and out-of-sample figures per window, the stitched out-of-sample totals and their verdict."""
    from adaptrade.backtest.metrics import stock_metrics
    from adaptrade.research.verdict import portfolio_verdict

    if not runs:
        raise ConfigError("walk-forward produced no windows", field="wf_in_sample_bars")
    cash0 = runs[0].in_sample.config.initial_cash
    rows = []
    for r in runs:
        w = r.window
        b_is = None if benchmark_close is None else benchmark_close[w.is_start:w.is_end]
        b_oos = None if benchmark_close is None else benchmark_close[w.is_end:w.oos_end]
        row: dict[str, object] = {"window": w.index, "is_start": str(bars.dates[w.is_start]), "is_end": str(bars.dates[w.is_end - 1]),
                                  "oos_start": str(bars.dates[w.is_end]), "oos_end": str(bars.dates[w.oos_end - 1]), "choice": r.choice}
        row.update({f"is_{k}": v for k, v in _means(r.in_sample, b_is, cash0).items()})
        row.update({f"oos_{k}": v for k, v in _means(r.out_of_sample, b_oos, cash0).items()})
        rows.append(row)
    eq, held = stitched_oos(runs, bars)
    first = runs[0].window.is_end
    valid = bars.valid.copy()
    valid[:, :first] = False
    eq_filled = np.where(np.isfinite(eq), eq, cash0)
    m = stock_metrics(eq_filled, bars.close, valid, held, np.empty(0), np.empty(0), np.zeros(0, dtype=bool), benchmark_close, cash0)
    ok = np.isfinite(m["total_return"])
    pv = portfolio_verdict(eq_filled, bars.close, valid, m["outperformance"][ok], trial_sharpes, seed=seed)
    mean = lambda k: _nanmean(m[k][ok])  # noqa: E731
    is_keys = [k for k in rows[0] if str(k).startswith("is_mean") or str(k).startswith("is_beat")]
    return {
        "mode": mode,
        "windows": rows,
        "in_sample": {k[3:]: _nanmean(np.array([float(r[k]) for r in rows])) for k in is_keys},  # type: ignore[arg-type]
        "out_of_sample": {"start": str(bars.dates[first]), "end": str(bars.dates[-1]), "stocks": int(ok.sum()),
                          "mean_return": mean("total_return"), "mean_buy_hold": mean("buy_hold_return"),
                          "mean_benchmark": mean("benchmark_return"), "mean_sharpe": mean("sharpe"),
                          "beat_buy_hold_share": float(np.mean(m["excess_vs_buy_hold"][ok] > 0)) if ok.any() else float("nan"),
                          "beat_benchmark_share": float(np.mean(m["outperformance"][ok] > 0)) if ok.any() else float("nan"),
                          "verdict": pv.to_dict()},
    }


def candidate_configs(base: StrategyConfig, n: int, seed: int = 0) -> list[StrategyConfig]:
    """`n` random valid configurations from the sweep space (invalid draws skipped), costs and fill of `base`."""
    from adaptrade.research.sweep import make_config, trial_settings

    out = []
    for p in trial_settings("random", {}, n, seed):
        try:
            out.append(make_config(base, p))
        except ConfigError:
            continue
    return out
