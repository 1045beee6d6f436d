"""Synthetic OHLCV: bar consistency, reproducibility per symbol, calendar, parameter ranges, the two regimes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptrade.data import synthetic as syn
from adaptrade.data.calendar import nyse_sessions, nyse_sessions_between
from adaptrade.data.synthetic import generate, params_for, synthetic_benchmark

HYP = settings(max_examples=30, deadline=None)
tickers = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ.", min_size=1, max_size=6)
universes = st.lists(tickers, min_size=1, max_size=12, unique=True)
seeds = st.integers(min_value=0, max_value=2**63 - 1)
FIELDS = ("open", "high", "low", "close", "volume")


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS + ("valid", "dates"))


@HYP
@given(symbols=universes, n_bars=st.integers(1, 300), seed=seeds, mr=st.booleans())
def test_bars_are_consistent(symbols: list[str], n_bars: int, seed: int, mr: bool) -> None:
    b = generate(symbols, n_bars, seed, mean_reversion=mr)
    assert b.symbols == tuple(symbols) and b.close.shape == (len(symbols), n_bars)
    assert b.valid.all() and b.adj_close is None
    for f in FIELDS:
        arr = getattr(b, f)
        assert arr.dtype == np.float64 and arr.flags.c_contiguous and np.isfinite(arr).all() and (arr > 0).all()
    assert (b.high >= np.maximum(b.open, b.close)).all()
    assert (b.low <= np.minimum(b.open, b.close)).all()
    assert np.array_equal(b.volume, np.rint(b.volume))


@HYP
@given(symbols=universes, k=st.integers(1, 12), seed=seeds, perm_seed=st.integers(0, 1000))
def test_reproducible_prefix_stable_and_order_free(symbols: list[str], k: int, seed: int, perm_seed: int) -> None:
    full = generate(symbols, 80, seed)
    assert _same(full, generate(symbols, 80, seed))
    k = min(k, len(symbols))
    assert _same(full.select(symbols[:k]), generate(symbols[:k], 80, seed))
    shuffled = list(np.random.default_rng(perm_seed).permutation(symbols))
    assert _same(full.select(shuffled), generate(shuffled, 80, seed))


@HYP
@given(a=tickers, b=tickers, seed=seeds)
def test_different_symbols_and_seeds_differ(a: str, b: str, seed: int) -> None:
    if a == b:
        b = a + "X"
    bars = generate([a, b], 50, seed)
    assert not np.array_equal(bars.close[0], bars.close[1])
    other = generate([a], 50, seed + 1 if seed < 2**63 - 1 else 0)
    assert not np.array_equal(bars.close[0], other.close[0])
    assert params_for(a, seed) != params_for(b, seed)


def test_dates_are_the_last_nyse_sessions() -> None:
    b = generate(["AAA"], 260, seed=1, end="2024-03-10")  # a Sunday
    assert b.dates.dtype == np.dtype("datetime64[D]") and len(b.dates) == 260
    assert b.dates[-1] == np.datetime64("2024-03-08")
    assert np.array_equal(b.dates, nyse_sessions("2024-03-08", 260))
    weekday = (b.dates.astype("int64") + 3) % 7  # 0 = Monday
    assert (weekday < 5).all()
    assert np.datetime64("2023-12-25") not in b.dates and np.datetime64("2023-07-04") not in b.dates
    assert np.datetime64("2023-12-26") in b.dates
    between = nyse_sessions_between("2024-01-02", "2024-01-05")
    assert between.tolist() == [np.datetime64(f"2024-01-0{d}") for d in (2, 3, 4, 5)]
    assert len(nyse_sessions_between("2024-01-01", "2024-12-31")) == 252


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        generate(["A", "A"], 10, 1)
    with pytest.raises(ValueError):
        generate(["A"], 0, 1)
    with pytest.raises(ValueError):
        generate(["A"], 10, -1)
    with pytest.raises(ValueError):
        generate(["A"], 20_000, 1)  # more sessions than exist since 1990
    with pytest.raises(ValueError):
        nyse_sessions("2200-01-01", 5)


def test_params_in_documented_ranges() -> None:
    ps = [params_for(f"S{i}", 3) for i in range(400)]
    for p in ps:
        assert syn.MU_RANGE[0] <= p.mu <= syn.MU_RANGE[1]
        assert syn.SIGMA_RANGE[0] <= p.sigma <= syn.SIGMA_RANGE[1]
        assert syn.HALF_LIFE_RANGE[0] <= p.half_life <= syn.HALF_LIFE_RANGE[1]
        assert syn.OU_RATIO_RANGE[0] * p.sigma <= p.ou_vol <= syn.OU_RATIO_RANGE[1] * p.sigma
        assert syn.P0_RANGE[0] <= p.p0 <= syn.P0_RANGE[1] and syn.ADV_RANGE[0] <= p.adv <= syn.ADV_RANGE[1]
    assert params_for("S0", 3) == ps[0]
    with pytest.raises(AttributeError):
        ps[0].mu = 1.0  # type: ignore[misc]


def _variance_ratio(close: np.ndarray, h: int) -> np.ndarray:
    lr = np.diff(np.log(close), axis=1)
    c = np.cumsum(lr, axis=1)
    return (c[:, h:] - c[:, :-h]).var(axis=1) / (h * lr.var(axis=1))


def test_mean_reversion_is_visible_and_gbm_is_a_random_walk() -> None:
    symbols = [f"S{i:03d}" for i in range(120)]
    mr = generate(symbols, 2520, seed=21)
    rw = generate(symbols, 2520, seed=21, mean_reversion=False)
    assert np.median(_variance_ratio(mr.close, 10)) < 0.96
    assert 0.96 < np.median(_variance_ratio(rw.close, 10)) < 1.04
    # GBM part is shared: the random walk's annualised vol is sigma
    sig = np.array([params_for(s, 21).sigma for s in symbols])
    rw_vol = np.diff(np.log(rw.close), axis=1).std(axis=1) * np.sqrt(252)
    np.testing.assert_allclose(rw_vol, sig, rtol=0.1)


def test_volume_is_liquid_and_tracks_abs_return() -> None:
    b = generate([f"S{i}" for i in range(40)], 1000, seed=2)
    med = np.median(b.volume, axis=1)
    assert (med > 0.3e6).all() and (med < 1.5e8).all()
    absr = np.abs(np.diff(np.log(b.close), axis=1))
    corr = [np.corrcoef(np.log(b.volume[i, 1:]), absr[i])[0, 1] for i in range(40)]
    assert np.median(corr) > 0.2


def test_benchmark() -> None:
    dates = nyse_sessions("2024-03-08", 2520)
    a = synthetic_benchmark(dates, 7)
    assert a.shape == (2520,) and a.dtype == np.float64 and (a > 0).all() and a[0] == syn.BENCHMARK_P0
    assert np.array_equal(a, synthetic_benchmark(dates, 7))
    assert not np.array_equal(a, synthetic_benchmark(dates, 8))
    vol = np.diff(np.log(a)).std() * np.sqrt(252)
    assert 0.14 < vol < 0.18
    assert synthetic_benchmark(dates[:0], 7).shape == (0,)


def test_single_string_and_empty_universe() -> None:
    assert generate("AAPL", 5, 1).symbols == ("AAPL",)
    assert _same(generate("AAPL", 5, 1), generate(["AAPL"], 5, 1))
    assert generate([], 5, 1).close.shape == (0, 5)


def test_chunked_threaded_generation_equals_one_symbol_at_a_time() -> None:
    """Many symbols are generated in chunks on threads; each row is still exactly its symbol's own bars."""
    syms = [f"T{i:03d}" for i in range(150)]  # more than two chunks
    many = generate(syms, 60, seed=8)
    for i in (0, 63, 64, 130, 149):
        one = generate([syms[i]], 60, seed=8)
        for name in ("open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(many, name)[i], getattr(one, name)[0])


def _numpy_reference(syms: list[str], n_bars: int, seed: int, mean_reversion: bool) -> dict[str, np.ndarray]:
    """The model written as whole-array numpy formulas (the implementation before the fused kernel): the oracle."""
    n = n_bars + 1
    z = np.empty((len(syms), 6, n))
    par = np.empty((len(syms), 6))
    for i, sym in enumerate(syms):
        rng = syn._rng(sym, seed)
        p = syn._draw_params(rng)
        par[i] = (p.mu, p.sigma, p.half_life, p.ou_vol, p.p0, p.adv)
        rng.standard_normal(out=z[i])
    mu, sigma, half_life, eta, p0, adv = (par[:, k : k + 1] for k in range(6))
    dt = syn.DT
    w = np.cumsum(z[:, 0, :], axis=1) - z[:, 0, :1]
    log_c = np.log(p0) + (mu - 0.5 * sigma**2) * dt * np.arange(n, dtype=np.float64) + sigma * math.sqrt(dt) * w
    var_d = sigma**2 * dt
    if mean_reversion:
        theta = math.log(2.0) / half_life[:, 0]
        a = np.exp(-theta)
        eta_d = eta[:, 0] * math.sqrt(dt)
        step_sd = eta_d * np.sqrt((1.0 - a * a) / (2.0 * theta))
        x = np.empty((len(syms), n))
        x[:, 0] = eta_d / np.sqrt(2.0 * theta) * z[:, 1, 0]
        for j in range(1, n):
            x[:, j] = a * x[:, j - 1] + step_sd * z[:, 1, j]
        log_c += x
        var_d = var_d + (eta[:, 0] ** 2 * dt)[:, None]
    vol_d = np.sqrt(var_d)
    r = np.diff(log_c, axis=1)
    log_o = log_c[:, :-1] + syn.GAP_SCALE * vol_d * z[:, 2, 1:]
    log_c = log_c[:, 1:]
    top = np.maximum(log_o, log_c) + syn.RANGE_SCALE * vol_d * np.abs(z[:, 3, 1:])
    bot = np.minimum(log_o, log_c) - syn.RANGE_SCALE * vol_d * np.abs(z[:, 4, 1:])
    log_v = np.log(adv) + syn.VOLUME_BETA * (np.abs(r) / vol_d - math.sqrt(2.0 / math.pi)) + syn.VOLUME_NOISE * z[:, 5, 1:]
    o, c = np.exp(log_o), np.exp(log_c)
    return {"open": o, "close": c, "high": np.maximum(np.exp(top), np.maximum(o, c)),
            "low": np.minimum(np.exp(bot), np.minimum(o, c)), "volume": np.maximum(np.rint(np.exp(log_v)), 1.0)}


@pytest.mark.parametrize("mean_reversion", [True, False])
@pytest.mark.parametrize("n_bars", [1, 2, 300])
def test_fused_generator_matches_the_numpy_formulas_bit_for_bit(mean_reversion: bool, n_bars: int) -> None:
    syms = [f"S{i:03d}" for i in range(70)]  # more than one chunk, a short last chunk
    got = generate(syms, n_bars, 11, mean_reversion=mean_reversion)
    want = _numpy_reference(syms, n_bars, 11, mean_reversion)
    for name, arr in want.items():
        assert np.array_equal(getattr(got, name), arr), name
