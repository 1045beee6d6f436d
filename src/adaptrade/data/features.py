"""Past-only features on `[symbol, t]` arrays: returns, z-scores, Wilder RSI stack, volatility, ADV.

Every value at t uses bars at or before t only. Functions taking `valid` compute over each
symbol's valid bars (compress, compute, scatter back) and return NaN on invalid bars, so a
holiday or a halt is skipped rather than treated as a zero return. Hot paths are numba
kernels (`cache=True`) looping over symbols inside compiled code.
"""

from __future__ import annotations

from typing import Sequence

import numba
import numpy as np

DEFAULT_RSI_PERIODS: tuple[int, ...] = tuple(range(10, 22))



def _as_rows(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """x as a C-contiguous float64 2-D array [row, t] (last axis = time) and its original shape."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError("expected an array with a time axis, got a scalar")
    return np.ascontiguousarray(arr.reshape(-1, arr.shape[-1])), arr.shape


def _check_2d(close: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """close/valid as [symbol, t] float64 / bool; valid also requires a finite value."""
    c = np.ascontiguousarray(close, dtype=np.float64)
    v = np.asarray(valid, dtype=bool)
    if c.ndim != 2 or v.shape != c.shape:
        raise ValueError(f"expected 2-D [symbol, t] arrays of one shape, got {c.shape} and {v.shape}")
    return c, np.ascontiguousarray(v & np.isfinite(c))


def _check_window(window: int, minimum: int = 1) -> int:
    """A window length as int, refusing values below `minimum`."""
    if int(window) != window or window < minimum:
        raise ValueError(f"window must be an integer >= {minimum}, got {window}")
    return int(window)


# ----------------------------------------------------------------------------- returns


def simple_returns(close: np.ndarray) -> np.ndarray:
    """close[t] / close[t-1] - 1 along the last axis, NaN at t=0 (the return earned into bar t)."""
    return relative_to_prev_close(close, close)


def log_returns(close: np.ndarray) -> np.ndarray:
    """log(close[t] / close[t-1]) along the last axis, NaN at t=0 (additive over time)."""
    c = np.asarray(close, dtype=np.float64)
    out = np.full(c.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[..., 1:] = np.log(c[..., 1:] / c[..., :-1])
    return out


def relative_to_prev_close(x: np.ndarray, close: np.ndarray) -> np.ndarray:
    """x[t] / close[t-1] - 1, NaN at t=0: prices normalised by the last known close."""
    xa = np.asarray(x, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    if xa.shape != c.shape:
        raise ValueError(f"x and close differ in shape: {xa.shape} vs {c.shape}")
    out = np.full(xa.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[..., 1:] = xa[..., 1:] / c[..., :-1] - 1.0
    return out


# ----------------------------------------------------------------------------- z-score


@numba.njit(cache=True, nogil=True)
def _rolling_zscore_kernel(x: np.ndarray, window: int, out: np.ndarray) -> None:
    n_rows, n = x.shape
    for r in range(n_rows):
        for t in range(window - 1, n):
            s = 0.0
            for k in range(t - window + 1, t + 1):
                s += x[r, k]
            mean = s / window
            ss = 0.0
            for k in range(t - window + 1, t + 1):
                d = x[r, k] - mean
                ss += d * d
            sd = np.sqrt(ss / (window - 1))
            if sd > 1e-13 * abs(mean):  # NaN or (rounding-level) zero spread -> stays NaN
                out[r, t] = (x[r, t] - mean) / sd


def rolling_zscore(x: np.ndarray, window: int) -> np.ndarray:
    """(x[t] - mean) / std (ddof=1) over x[t-window+1..t] along the last axis; NaN until full, on NaN input or zero std."""
    w = _check_window(window, minimum=2)
    rows, shape = _as_rows(x)
    out = np.full(rows.shape, np.nan)
    _rolling_zscore_kernel(rows, w, out)
    return out.reshape(shape)


# ----------------------------------------------------------------------------- RSI


@numba.njit(cache=True, nogil=True, _nrt=False)
def _wilder_rsi_into(c: np.ndarray, n: int, period: int, out: np.ndarray) -> tuple[float, float]:
    """TA-Lib TA_RSI on c[:n] into out[:n] (out pre-filled with NaN), same operation order; returns the
    Wilder average gain and loss at bar n - 1 (NaN when n <= period), from where the recursion goes on.

    The TA-Lib C library bundled with ta-lib-python 0.8 (0.8.1) scales by the reciprocal
    `1/period` (seed and smoothing alike) rather than dividing, and writes 0.0 when
    avg gain + avg loss is exactly 0; both are copied so the result is bit-identical.
    """
    if n <= period:
        return np.nan, np.nan
    inv = 1.0 / period
    prev_gain = 0.0
    prev_loss = 0.0
    prev = c[0]
    for k in range(1, period + 1):
        d = c[k] - prev
        prev = c[k]
        if d < 0.0:
            prev_loss -= d
        else:
            prev_gain += d
    prev_loss *= inv
    prev_gain *= inv
    tot = prev_gain + prev_loss
    out[period] = 100.0 * (prev_gain / tot) if tot != 0.0 else 0.0
    pm1 = float(period - 1)
    for k in range(period + 1, n):
        d = c[k] - prev
        prev = c[k]
        prev_loss *= pm1
        prev_gain *= pm1
        if d < 0.0:
            prev_loss -= d
        else:
            prev_gain += d
        prev_loss *= inv
        prev_gain *= inv
        tot = prev_gain + prev_loss
        out[k] = 100.0 * (prev_gain / tot) if tot != 0.0 else 0.0
    return prev_gain, prev_loss


def _check_period(period: int) -> int:
    """An RSI period as int in TA-Lib's accepted range 2..100000."""
    if int(period) != period or not 2 <= period <= 100_000:
        raise ValueError(f"RSI period must be an integer in 2..100000, got {period}")
    return int(period)


def wilder_rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder RSI of a 1-D series, bit-identical to talib.RSI: NaN before index `period`, 0.0 when flat."""
    p = _check_period(period)
    c = np.ascontiguousarray(close, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"wilder_rsi expects a 1-D series, got shape {c.shape}; use rsi_stack for [symbol, t]")
    out = np.full(c.shape, np.nan)
    _wilder_rsi_into(c, c.shape[0], p, out)
    return out


@numba.njit(cache=True, nogil=True, _nrt=False)
def compress_valid(x: np.ndarray, valid: np.ndarray, buf: np.ndarray, pos: np.ndarray) -> int:
    """Copy one row's valid values into buf (their bar indices into pos); returns how many."""
    m = 0
    for t in range(x.shape[0]):
        if valid[t]:
            buf[m] = x[t]
            pos[m] = t
            m += 1
    return m


@numba.njit(cache=True, nogil=True)
def _rsi_stack_kernel(close: np.ndarray, valid: np.ndarray, periods: np.ndarray, out: np.ndarray) -> None:
    """All periods of each symbol in one pass over its bars (fused), each bit-identical to `_wilder_rsi_into`
    (the scratch arrays of `rsi_rows_into` allocated once)."""
    n_t = close.shape[1]
    n_p = periods.shape[0]
    rsi_rows_into(close, valid, periods, out, np.empty(n_t), np.empty(n_t), np.empty(n_t, dtype=np.int64), np.empty(n_p),
                  np.empty(n_p), np.empty(n_p), np.empty(n_p), np.empty((periods.max() + 1, n_p)))


@numba.njit(cache=True, nogil=True, _nrt=False)
def rsi_rows_into(close: np.ndarray, valid: np.ndarray, periods: np.ndarray, out: np.ndarray, buf: np.ndarray, res: np.ndarray,
                  pos: np.ndarray, gain: np.ndarray, loss: np.ndarray, inv: np.ndarray, pm1: np.ndarray,
                  warm: np.ndarray) -> None:
    """The RSI stack of rows of [symbol, t] into out[symbol, period, t] (NaN-filled by the caller), with caller-owned
    scratch (buf, res, pos: n_t; gain, loss, inv, pm1: n_periods; warm: [longest period + 1, n_periods]).

    Each period runs its own seed and first smoothing steps up to the longest period (`rsi_warmup_into`); from
    there the periods advance together bar by bar (`rsi_advance`), so the price differences are read once
    and the independent recursions overlap in the CPU. The operations of every recursion
    and their order are exactly those of the one-period function (no fastmath), so the
    values do not change by a bit.
    """
    n_p = periods.shape[0]
    for s in range(close.shape[0]):
        m = compress_valid(close[s], valid[s], buf, pos)
        max_p = rsi_warmup_into(buf, m, periods, warm, res, gain, loss, inv, pm1)
        for k in range(min(m, max_p + 1)):
            for j in range(n_p):
                out[s, j, pos[k]] = warm[k, j]
        for k in range(max_p + 1, m):
            rsi_advance(gain, loss, inv, pm1, buf[k] - buf[k - 1])
            t = pos[k]
            for j in range(n_p):
                out[s, j, t] = rsi_value(gain[j], loss[j])


@numba.njit(cache=True, nogil=True, _nrt=False)
def rsi_warmup_into(buf: np.ndarray, m: int, periods: np.ndarray, warm: np.ndarray, res: np.ndarray, gain: np.ndarray,
                    loss: np.ndarray, inv: np.ndarray, pm1: np.ndarray) -> int:
    """The start of one stock's RSI stack over its valid closes buf[:m], for a loop that goes on bar by bar with
    `rsi_advance`: warm[k, j] = RSI(periods[j]) at valid bar k for k <= the longest period (NaN before the period's
    first value), gain/loss the recursions' state at the last of those bars, inv/pm1 the periods' constants.
    The operations of `_wilder_rsi_into` (TA-Lib's seed and smoothing), so its values bit for bit. Returns the
    longest period."""
    n_p = periods.shape[0]
    max_p = 0
    for j in range(n_p):
        max_p = max(max_p, periods[j])
        inv[j] = 1.0 / periods[j]
        pm1[j] = float(periods[j] - 1)
    upto = m if m <= max_p + 1 else max_p + 1
    for k in range(upto):
        for j in range(n_p):
            warm[k, j] = np.nan
    for j in range(n_p):
        p = periods[j]
        gain[j], loss[j] = _wilder_rsi_into(buf, upto, p, res)  # NaN when the history is too short for p
        for k in range(p, upto):
            warm[k, j] = res[k]
    return max_p


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def rsi_advance(gain: np.ndarray, loss: np.ndarray, inv: np.ndarray, pm1: np.ndarray, d: float) -> None:
    """Every period's Wilder averages one valid bar on (price difference d), TA-Lib's smoothing step with the same
    operations (`_wilder_rsi_into`); no division, and the periods side by side (the CPU does them in vector registers)."""
    up = d if d > 0.0 else 0.0
    dn = -d if d < 0.0 else 0.0
    for j in range(gain.shape[0]):
        loss[j] = (loss[j] * pm1[j] + dn) * inv[j]
        gain[j] = (gain[j] * pm1[j] + up) * inv[j]


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def rsi_value(gain: float, loss: float) -> float:
    """The RSI from its averages, as TA-Lib writes it (0.0 when both are 0)."""
    tot = gain + loss
    return 100.0 * (gain / tot) if tot != 0.0 else 0.0


def _out(shape: tuple[int, ...], out: np.ndarray | None) -> np.ndarray:
    """A NaN-filled result array: `out` (C-contiguous float64 of `shape`, e.g. a row block of a larger one) or a new one."""
    if out is None:
        return np.full(shape, np.nan)
    if out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float64 array of shape {shape}, got {out.dtype} {out.shape}")
    out.fill(np.nan)
    return out


def rsi_stack(
    close: np.ndarray, valid: np.ndarray, periods: Sequence[int] = DEFAULT_RSI_PERIODS, out: np.ndarray | None = None
) -> np.ndarray:
    """Wilder RSI for every period over each symbol's valid bars: float64 [symbol, period, t], NaN off-bar/warm-up
    (into `out` when given: e.g. one thread's row block of a larger array)."""
    c, v = _check_2d(close, valid)
    per = np.asarray([_check_period(p) for p in periods], dtype=np.int64)
    out = _out((c.shape[0], per.shape[0], c.shape[1]), out)
    if per.size:
        _rsi_stack_kernel(c, v, per, out)
    return out


# ----------------------------------------------------------------------------- volatility, ADV


@numba.njit(cache=True, nogil=True)
def _rolling_vol_kernel(close: np.ndarray, valid: np.ndarray, window: int, scale: float, out: np.ndarray) -> None:
    """Two-pass windowed std per valid bar, vectorised across bars (window offset outer, bar inner).

    Every window's sums are taken in the same order as a bar-by-bar loop would, so the result
    is bit-identical to it; a running (O(1)) sum would change the last bits and through the
    sizing the outputs. The inner loops are contiguous and independent, so they run as SIMD.
    """
    n_sym, n_t = close.shape
    ret = np.empty(n_t)
    pos = np.empty(n_t, dtype=np.int64)
    mean = np.empty(n_t)
    ss = np.empty(n_t)
    for s in range(n_sym):
        m = 0  # number of valid bars so far; ret[k] is the log return into valid bar k (k >= 1)
        prev = 0.0
        for t in range(n_t):
            if valid[s, t]:
                if m > 0:
                    ret[m] = np.log(close[s, t] / prev)
                prev = close[s, t]
                pos[m] = t
                m += 1
        if m <= window:
            continue
        n_w = m - window  # windows: q = 0..n_w-1 ends at valid bar q + window, starts at q + 1
        for q in range(n_w):
            mean[q] = 0.0
            ss[q] = 0.0
        for i in range(window):
            seg = ret[i + 1 : i + 1 + n_w]
            for q in range(n_w):
                mean[q] += seg[q]
        for q in range(n_w):
            mean[q] /= window
        for i in range(window):
            seg = ret[i + 1 : i + 1 + n_w]
            for q in range(n_w):
                d = seg[q] - mean[q]
                ss[q] += d * d
        for q in range(n_w):
            out[s, pos[q + window]] = np.sqrt(ss[q] / (window - 1)) * scale


def rolling_volatility(
    close: np.ndarray, valid: np.ndarray, window: int = 20, periods_per_year: int = 252, out: np.ndarray | None = None
) -> np.ndarray:
    """Annualised std (ddof=1) of the last `window` valid-bar log returns ending at t: [symbol, t], past-only
    (into `out` when given)."""
    w = _check_window(window, minimum=2)
    c, v = _check_2d(close, valid)
    out = _out(c.shape, out)
    _rolling_vol_kernel(c, v, w, float(np.sqrt(periods_per_year)), out)
    return out


@numba.njit(cache=True, nogil=True)
def _rolling_mean_valid_kernel(x: np.ndarray, valid: np.ndarray, window: int, out: np.ndarray) -> None:
    n_sym, n_t = x.shape
    buf = np.empty(n_t)
    pos = np.empty(n_t, dtype=np.int64)
    for s in range(n_sym):
        m = compress_valid(x[s], valid[s], buf, pos)
        for k in range(window - 1, m):
            acc = 0.0
            for i in range(k - window + 1, k + 1):
                acc += buf[i]
            out[s, pos[k]] = acc / window


def average_daily_volume(volume: np.ndarray, valid: np.ndarray, window: int = 20) -> np.ndarray:
    """Trailing mean volume over the last `window` valid bars ending at t: [symbol, t], NaN until full."""
    w = _check_window(window)
    x, v = _check_2d(volume, valid)
    out = np.full(x.shape, np.nan)
    _rolling_mean_valid_kernel(x, v, w, out)
    return out
