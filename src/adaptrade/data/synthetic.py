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
def _ou_paths(z: np.ndarray, row: int, a: np.ndarray, step_sd: np.ndarray, stat_sd: np.ndarray) -> np.ndarray:
    """Exact OU recursion X[j] = a X[j-1] + step_sd * z[j], X[0] ~ stationary, per symbol."""
    n_sym, _, n = z.shape
    x = np.empty((n_sym, n))
    for s in range(n_sym):
        xs = stat_sd[s] * z[s, row, 0]
        x[s, 0] = xs
        for j in range(1, n):
            xs = a[s] * xs + step_sd[s] * z[s, row, j]
            x[s, j] = xs
    return x


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
    mu, sigma, half_life, eta, p0, adv = (par[:, k : k + 1] for k in range(6))

    steps = np.arange(n, dtype=np.float64)
    w = np.cumsum(z[:, 0, :], axis=1) - z[:, 0, :1]  # W_0 = 0
    log_c = np.log(p0) + (mu - 0.5 * sigma**2) * DT * steps + sigma * math.sqrt(DT) * w
    var_d = sigma**2 * DT
    if mean_reversion:
        theta = math.log(2.0) / half_life[:, 0]
        a = np.exp(-theta)
        eta_d = eta[:, 0] * math.sqrt(DT)
        step_sd = eta_d * np.sqrt((1.0 - a * a) / (2.0 * theta))
        stat_sd = eta_d / np.sqrt(2.0 * theta)
        log_c += _ou_paths(z, 1, a, step_sd, stat_sd)
        var_d = var_d + (eta[:, 0] ** 2 * DT)[:, None]
    vol_d = np.sqrt(var_d)  # [n_sym, 1]: daily return vol used to scale the bar shape

    r = np.diff(log_c, axis=1)  # close-to-close log return into each kept bar
    prev_log_c = log_c[:, :-1]
    log_o = prev_log_c + GAP_SCALE * vol_d * z[:, 2, 1:]
    log_c = log_c[:, 1:]
    top = np.maximum(log_o, log_c) + RANGE_SCALE * vol_d * np.abs(z[:, 3, 1:])
    bot = np.minimum(log_o, log_c) - RANGE_SCALE * vol_d * np.abs(z[:, 4, 1:])
    log_v = (
        np.log(adv)
        + VOLUME_BETA * (np.abs(r) / vol_d - math.sqrt(2.0 / math.pi))
        + VOLUME_NOISE * z[:, 5, 1:]
    )
    out["volume"][rows] = np.maximum(np.rint(np.exp(log_v)), 1.0)
    open_, close = np.exp(log_o), np.exp(log_c)
    out["open"][rows] = open_
    out["close"][rows] = close
    out["high"][rows] = np.maximum(np.exp(top), np.maximum(open_, close))  # exact even if exp rounds
    out["low"][rows] = np.minimum(np.exp(bot), np.minimum(open_, close))


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
