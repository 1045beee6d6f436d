"""Synthetic daily OHLCV: GBM plus an Ornstein-Uhlenbeck mean-reverting component, per symbol.

Each symbol owns a random stream seeded from `(seed, blake2b(symbol))`, so a symbol's bars do
not depend on which other symbols are generated or in what order (prefix-stable universes).
The mean-reverting component deliberately gives RSI something to find; it flatters an RSI
strategy compared with real data (see docs/synthetic.md). `mean_reversion=False` gives a pure
GBM random walk, where no RSI rule should have an edge before costs.
"""

from __future__ import annotations

import hashlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numba
import numpy as np

from adaptrade.data.bars import Bars
from adaptrade.data.calendar import nyse_sessions
from adaptrade.settings import DATA_END

TRADING_DAYS = 252
DT = 1.0 / TRADING_DAYS

# Per-symbol parameter ranges (uniform unless "log": log-uniform). Documented in docs/synthetic.md.
MU_RANGE = (0.00, 0.15)  # GBM drift, per year
SIGMA_RANGE = (0.15, 0.45)  # GBM diffusion vol, per year
HALF_LIFE_RANGE = (5.0, 30.0)  # OU half-life, trading days
OU_RATIO_RANGE = (0.5, 1.0)  # OU vol eta as a multiple of sigma
P0_RANGE = (20.0, 500.0)  # log: price level the session before the first bar
ADV_RANGE = (1.0e6, 5.0e7)  # log: typical daily volume, shares

# Bar-shape constants, in units of the symbol's daily return vol.
GAP_SCALE = 0.25  # overnight gap sd (open vs previous close)
RANGE_SCALE = 0.5  # sd of the half-normal excursion of high above / low below the body
VOLUME_BETA = 0.35  # log-volume loading on |return| / daily vol
VOLUME_NOISE = 0.35  # sd of the idiosyncratic log-volume noise

BENCHMARK_MU = 0.07
BENCHMARK_SIGMA = 0.16
BENCHMARK_P0 = 1000.0
BENCHMARK_KEY = "^SYNTH-SPX"

_N_SHOCKS = 6  # rows of normal draws per symbol: W, B (OU), gap, high, low, volume


@dataclass(frozen=True)
class SyntheticParams:
    """One symbol's model parameters (annualised mu/sigma/ou_vol, half-life in trading days)."""

    mu: float
    sigma: float
    half_life: float
    ou_vol: float
    p0: float
    adv: float

    @property
    def theta(self) -> float:
        """OU mean-reversion speed per trading day: ln 2 / half_life."""
        return math.log(2.0) / self.half_life

    @property
    def ou_stationary_sd(self) -> float:
        """Stationary sd of the OU log-price component X (eta_daily / sqrt(2 theta))."""
        return self.ou_vol * math.sqrt(DT) / math.sqrt(2.0 * self.theta)


def stable_hash(name: str) -> int:
    """A 64-bit hash of `name` that is the same in every process (unlike Python's `hash`)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def _rng(symbol: str, seed: int) -> np.random.Generator:
    """The symbol's own random stream for this seed."""
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), stable_hash(symbol)])


def _lin(u: float, lo_hi: tuple[float, float]) -> float:
    return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * u


def _log(u: float, lo_hi: tuple[float, float]) -> float:
    return math.exp(_lin(u, (math.log(lo_hi[0]), math.log(lo_hi[1]))))


def _draw_params(rng: np.random.Generator) -> SyntheticParams:
    """Parameters from the first six uniforms of a symbol's stream (drawn before any path)."""
    u = rng.random(6)
    sigma = _lin(u[1], SIGMA_RANGE)
    return SyntheticParams(
        mu=_lin(u[0], MU_RANGE),
        sigma=sigma,
        half_life=_lin(u[2], HALF_LIFE_RANGE),
        ou_vol=_lin(u[3], OU_RATIO_RANGE) * sigma,
        p0=_log(u[4], P0_RANGE),
        adv=_log(u[5], ADV_RANGE),
    )


def params_for(symbol: str, seed: int) -> SyntheticParams:
    """The parameters `generate` uses for `symbol` under `seed` (for docs, tests and diagnostics)."""
    return _draw_params(_rng(symbol, seed))


@numba.njit(cache=True, nogil=True)
def _log_bars(z: np.ndarray, log_p0: np.ndarray, drift: np.ndarray, diff_sd: np.ndarray, mean_reversion: bool,
              a: np.ndarray, step_sd: np.ndarray, stat_sd: np.ndarray, vol_d: np.ndarray, log_adv: np.ndarray,
              o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
    """Every symbol's log open / high / low / close and log volume in one pass over its shocks (rows of o..v).

    The same floating-point operations in the same order as the numpy formulas they replace (a
    sequential cumsum for W, the exact OU recursion, then the bar shape), so the bits are the same;
    the exponentials stay in numpy (`_fill_rows`), whose SIMD exp need not match libm's last bit.
    """
    n_sym, _, n = z.shape
    sq = math.sqrt(2.0 / math.pi)
    for s in range(n_sym):
        z0 = z[s, 0, 0]
        cum = z0
        xs = stat_sd[s] * z[s, 1, 0] if mean_reversion else 0.0
        prev = log_p0[s] + drift[s] * 0.0 + diff_sd[s] * (cum - z0)
        if mean_reversion:
            prev = prev + xs
        gap, rng_sd, vd = GAP_SCALE * vol_d[s], RANGE_SCALE * vol_d[s], vol_d[s]
        for j in range(1, n):
            cum = cum + z[s, 0, j]
            lc = log_p0[s] + drift[s] * float(j) + diff_sd[s] * (cum - z0)
            if mean_reversion:
                xs = a[s] * xs + step_sd[s] * z[s, 1, j]
                lc = lc + xs
            lop = prev + gap * z[s, 2, j]
            k = j - 1
            o[s, k] = lop
            c[s, k] = lc
            h[s, k] = (lop if lop >= lc else lc) + rng_sd * abs(z[s, 3, j])
            lo[s, k] = (lop if lop <= lc else lc) - rng_sd * abs(z[s, 4, j])
            v[s, k] = (log_adv[s] + VOLUME_BETA * (abs(lc - prev) / vd - sq)) + VOLUME_NOISE * z[s, 5, j]
            prev = lc


def generate(
    symbols: Sequence[str],
    n_bars: int,
    seed: int,
    end: str = DATA_END,
    mean_reversion: bool = True,
    cache_dir: Path | str | None = None,
) -> Bars:
    """Synthetic daily Bars for `symbols` on the last `n_bars` NYSE sessions up to `end`, reproducible per symbol.

    `cache_dir` keeps the NYSE calendar on disk between processes (see data.calendar).
    """
    syms = (symbols,) if isinstance(symbols, str) else tuple(str(s) for s in symbols)
    if len(set(syms)) != len(syms):
        raise ValueError("symbols must be unique")
    if int(n_bars) != n_bars or n_bars < 1:
        raise ValueError(f"n_bars must be a positive integer, got {n_bars!r}")
    dates = nyse_sessions(end, int(n_bars), cache_dir)
    n_sym, n_t = len(syms), int(n_bars)
    out = {name: np.empty((n_sym, n_t)) for name in ("open", "high", "low", "close", "volume")}
    chunks = [(lo, min(lo + _CHUNK, n_sym)) for lo in range(0, n_sym, _CHUNK)]
    threads = min(len(chunks), os.cpu_count() or 1)

    def fill(lo_hi: tuple[int, int]) -> None:
        _fill_rows(syms[lo_hi[0] : lo_hi[1]], int(seed), bool(mean_reversion), out, lo_hi[0])

    if threads > 1:  # numpy's random fills and ufuncs release the GIL; rows are independent
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="synthetic") as pool:
            list(pool.map(fill, chunks))
    else:
        for c in chunks:
            fill(c)
    return Bars(
        dates=dates,
        symbols=syms,
        open=out["open"],
        high=out["high"],
        low=out["low"],
        close=out["close"],
        volume=out["volume"],
        valid=np.ones((n_sym, n_t), dtype=bool),
        adj_close=None,
        source=f"synthetic(seed={int(seed)}, mean_reversion={bool(mean_reversion)})",
    )


_CHUNK = 64  # symbols per work unit: small enough for the cache, large enough for numpy's loops


def _fill_rows(syms: Sequence[str], seed: int, mean_reversion: bool, out: dict[str, np.ndarray], row0: int) -> None:
    """Generate `syms` into rows row0.. of the output arrays.

    Every operation is elementwise or along a symbol's own row, so generating in chunks (on
    threads) gives the same bits as generating all symbols at once.
    """
    n_sym, n = len(syms), out["close"].shape[1] + 1  # one extra leading step: the close before bar 0
    rows = slice(row0, row0 + n_sym)
    z = np.empty((n_sym, _N_SHOCKS, n))
    par = np.empty((n_sym, 6))
    for i, sym in enumerate(syms):  # per-symbol streams: a loop over symbols, not bars
        rng = _rng(sym, seed)
        p = _draw_params(rng)
        par[i] = (p.mu, p.sigma, p.half_life, p.ou_vol, p.p0, p.adv)
        rng.standard_normal(out=z[i])
    mu, sigma, half_life, eta, p0, adv = (par[:, k] for k in range(6))
    var_d = sigma**2 * DT
    a = step_sd = stat_sd = np.zeros(n_sym)  # read only with mean reversion
    if mean_reversion:
        theta = math.log(2.0) / half_life
        a = np.exp(-theta)
        eta_d = eta * math.sqrt(DT)
        step_sd = eta_d * np.sqrt((1.0 - a * a) / (2.0 * theta))
        stat_sd = eta_d / np.sqrt(2.0 * theta)
        var_d = var_d + eta**2 * DT
    o, h, lo, c, v = (out[name][rows] for name in ("open", "high", "low", "close", "volume"))
    _log_bars(z, np.log(p0), (mu - 0.5 * sigma**2) * DT, sigma * math.sqrt(DT), mean_reversion, a, step_sd, stat_sd,
              np.sqrt(var_d), np.log(adv), o, h, lo, c, v)
    for arr in (o, h, lo, c, v):  # in place: no temporaries
        np.exp(arr, out=arr)
    np.rint(v, out=v)
    np.maximum(v, 1.0, out=v)
    np.maximum(h, o, out=h)  # exact even if exp rounds: the high is never below the body
    np.maximum(h, c, out=h)
    np.minimum(lo, o, out=lo)
    np.minimum(lo, c, out=lo)


def synthetic_benchmark(dates: np.ndarray, seed: int) -> np.ndarray:
    """An S&P 500-like close series (pure GBM, mu 7%, sigma 16%/yr, starts at 1000) aligned to `dates`."""
    n = len(dates)
    z = _rng(BENCHMARK_KEY, seed).standard_normal(n)
    if n:
        z[0] = 0.0
    w = np.cumsum(z)
    t = np.arange(n, dtype=np.float64)
    drift = (BENCHMARK_MU - 0.5 * BENCHMARK_SIGMA**2) * DT * t
    return BENCHMARK_P0 * np.exp(drift + BENCHMARK_SIGMA * math.sqrt(DT) * w)
