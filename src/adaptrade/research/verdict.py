"""Plain-language verdicts: does the strategy beat buy-and-hold, per stock and for the portfolio?

Per stock: the paired difference of daily returns d_t = r_strategy,t - r_buy&hold,t over the
stock's valid bars, tested with a two-sided t test (normal critical value; d_t is close to a
martingale difference because a position taken at t's close only earns t+1's return).
Portfolio: the equal-weight average of the d_t across stocks; its Deflated Sharpe Ratio (the
information ratio against buy-and-hold, deflated by every configuration tried) and a
stationary-bootstrap CI of its mean decide. "Edge" needs both the DSR and the CI to agree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from adaptrade.research.stats import (
    bootstrap_ci,
    dsr,
    mean_ci_time_series,
    mean_rows,
    moments,
    norm_ppf,
    positive_share_rows,
    psr,
    t_stat,
)

BEATS, SAME, TRAILS = "beats buy-and-hold", "indistinguishable from buy-and-hold", "trails buy-and-hold"


def daily_returns(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[symbol, t] simple returns between consecutive valid bars (NaN on the first and invalid bars)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return np.full(v.shape, np.nan)
    ok = np.asarray(valid, dtype=bool) & np.isfinite(v)
    last = np.maximum.accumulate(np.where(ok, np.arange(v.shape[1])[None, :], -1), axis=1)  # last usable bar <= t
    prev = np.full(last.shape, -1, dtype=last.dtype)
    prev[:, 1:] = last[:, :-1]  # last usable bar < t
    before = np.take_along_axis(v, np.maximum(prev, 0), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok & (prev >= 0), v / before - 1.0, np.nan)


def excess_panel(equity: np.ndarray, close: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[symbol, t] daily strategy return minus buy-and-hold return (NaN where undefined)."""
    return daily_returns(equity, valid) - daily_returns(close, valid)


def portfolio_series(panel: np.ndarray) -> np.ndarray:
    """Equal-weight cross-sectional mean per bar over the stocks with a value (bars with none dropped)."""
    has = np.isfinite(panel).any(axis=0)
    with np.errstate(invalid="ignore"):
        s = np.nanmean(np.where(np.isfinite(panel), panel, np.nan)[:, has], axis=0) if has.any() else np.empty(0)
    return s


def stock_verdict(d: np.ndarray, level: float = 0.95) -> tuple[str, float]:
    """(verdict, t statistic) for one stock's paired daily differences."""
    t = t_stat(d)
    crit = norm_ppf(0.5 + level / 2.0)
    pct = f"at {level * 100:.0f}%"
    if not math.isfinite(t):
        return f"{SAME} {pct} (too few bars)", t
    if t > crit:
        return f"{BEATS} {pct}", t
    if t < -crit:
        return f"{TRAILS} {pct}", t
    return f"{SAME} {pct}", t


def stock_verdicts(equity: np.ndarray, close: np.ndarray, valid: np.ndarray, level: float = 0.95) -> list[dict[str, object]]:
    """Per stock: t statistic, PSR of the excess series against 0, and the verdict."""
    panel = excess_panel(equity, close, valid)
    rows = []
    for i in range(panel.shape[0]):
        mo = moments(panel[i])
        v, t = stock_verdict(panel[i], level)
        rows.append({"t_stat": t, "excess_sharpe": mo.sharpe, "psr": psr(mo.sharpe, 0.0, mo.n, mo.skew, mo.kurt), "verdict": v})
    return rows


@dataclass(frozen=True)
class PortfolioVerdict:
    """The portfolio's evidence and verdict (daily excess over buy-and-hold, equal weight)."""

    verdict: str
    edge: bool
    bars: int
    mean_daily_excess: float
    excess_ci: tuple[float, float]
    excess_sharpe: float
    skew: float
    kurt: float
    psr: float
    dsr: float
    sr0: float
    n_trials: int
    outperformance_ci: tuple[float, float]
    beat_share_ci: tuple[float, float]
    level: float

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly dict (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def portfolio_verdict(
    equity: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    outperformance: np.ndarray,
    trial_sharpes: list[float] | None = None,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> PortfolioVerdict:
    """Portfolio verdict from the DSR (trials = every configuration tried) and a bootstrap CI of the mean excess."""
    series = portfolio_series(excess_panel(equity, close, valid))
    mo = moments(series)
    trials = [mo.sharpe] if not trial_sharpes else list(trial_sharpes)
    de = dsr(mo.sharpe, mo.n, mo.skew, mo.kurt, trials) if math.isfinite(mo.sharpe) else None
    lo, hi = mean_ci_time_series(series, level=level, n_boot=n_boot, seed=seed)
    out = np.asarray(outperformance, dtype=np.float64)
    o_ci = bootstrap_ci(out, mean_rows, n_boot=n_boot, level=level, seed=seed)
    s_ci = bootstrap_ci(out, positive_share_rows, n_boot=n_boot, level=level, seed=seed)
    d_val = de.dsr if de is not None else float("nan")
    pct = f"{level * 100:.0f}%"
    edge = bool(math.isfinite(d_val) and d_val > level and lo > 0)
    n_tr = de.n_trials if de is not None else len(trials)
    if edge:
        text = (f"{BEATS} at {pct}, after deflating for {n_tr} configurations tried (DSR {d_val:.3f})" if n_tr > 1
                else f"{BEATS} at {pct} (PSR {d_val:.3f}, one configuration)")
    elif math.isfinite(hi) and hi < 0:
        text = f"{TRAILS} at {pct} (mean daily excess CI {lo * 1e4:+.2f}..{hi * 1e4:+.2f} bp)"
    else:
        stat = f"DSR {d_val:.3f} over {n_tr} configurations" if n_tr > 1 else f"PSR {d_val:.3f}, one configuration"
        text = f"no edge: {SAME} at {pct} ({stat}; mean daily excess CI {lo * 1e4:+.2f}..{hi * 1e4:+.2f} bp)"
    return PortfolioVerdict(
        verdict=text, edge=edge, bars=mo.n, mean_daily_excess=float(np.mean(series)) if series.size else float("nan"),
        excess_ci=(lo, hi), excess_sharpe=mo.sharpe, skew=mo.skew, kurt=mo.kurt,
        psr=psr(mo.sharpe, 0.0, mo.n, mo.skew, mo.kurt), dsr=d_val, sr0=de.sr0 if de is not None else float("nan"),
        n_trials=n_tr, outperformance_ci=o_ci, beat_share_ci=s_ci, level=level,
    )
