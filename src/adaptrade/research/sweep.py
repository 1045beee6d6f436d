"""Parameter sweeps: grid or random over strategy settings, each trial a task on an executor.

A trial is a `Batch` (all the sweep's stocks, a data spec, the trial's StrategyConfig) mapped by
the executors of `parallel/executors.py`, so serial, process and Dask runs share one code path.
A worker keeps the bars and features of the last data spec it saw (they do not depend on the
strategy settings) and runs a chunk's configurations in one compiled pass
(`backtest/sweep_kernel.py`: configurations looped inside the kernel, each stock's bars read once
per chunk), bit-identical to running them one by one (`run_trial`, the reference). A trial returns
small per-stock arrays and the moments of its daily excess over buy-and-hold, never equity.

Trials are identified by their *effective* settings (`config_key`): every StrategyConfig field,
minus `learning_alpha`, `threshold_step` and `min_trades_to_adapt` for the fixed strategy, which
never reads them in the per-stock backtest a sweep runs. Random sweeps draw distinct effective
configurations; a list with repeats (e.g. a grid crossing `kind=fixed` with `learning_alpha`)
runs each distinct configuration once and records the repeats with `same_as` pointing at it.
Every trial, failed ones included, is recorded (`research/trialstore.py`); the DSR counts the
distinct configurations (failed ones included), not the requested trials.
"""

from __future__ import annotations

import itertools
import math
import threading
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numba import njit

from adaptrade.stats import benchmark_return

from adaptrade.parallel.batching import Batch, load_batch
from adaptrade.errors import ConfigError
from adaptrade.strategy.params import StrategyConfig

# Default value lists per parameter (random sweeps draw from them; a grid takes the product of the given ones).
SPACE: dict[str, list[Any]] = {
    "kind": ["adaptive", "fixed"],
    "rsi_period": list(range(10, 22)),
    "buy": [20.0, 22.5, 25.0, 27.5, 30.0, 32.5, 35.0],
    "sell": [65.0, 67.5, 70.0, 72.5, 75.0, 77.5, 80.0],
    "learning_alpha": [0.1, 0.2, 0.3],
    "threshold_step": [0.5, 1.0, 2.0],
    "min_trades_to_adapt": [3, 5, 8],
}
_CAST: dict[str, Callable[[str], Any]] = {"kind": str, "rsi_period": int, "buy": float, "sell": float,
                                          "learning_alpha": float, "threshold_step": float, "min_trades_to_adapt": int}
# Settings only the adaptive strategy reads (the fixed one ignores them in the per-stock backtest).
ADAPTIVE_ONLY = ("learning_alpha", "threshold_step", "min_trades_to_adapt")


def _norm(v: Any) -> Any:
    """A value in a canonical form for keys: 30 and 30.0 are the same threshold."""
    if isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    return v


def config_key(params: dict[str, Any], base: StrategyConfig | None = None) -> str:
    """The effective settings of `base` with `params` applied, as a string: what makes two trials the same strategy.

    Every StrategyConfig field counts (costs and fill included), except the adaptive-only ones for
    a non-adaptive kind. Works for invalid combinations too (they fail alike, so they are one).
    """
    from dataclasses import fields

    b = base or StrategyConfig()
    merged = {f.name: getattr(b, f.name) for f in fields(b)} | dict(params)
    if merged.get("kind") != "adaptive":
        for k in ADAPTIVE_ONLY:
            merged.pop(k, None)
    return ",".join(f"{k}={_norm(v)!r}" for k, v in sorted(merged.items()))


def space_size(space: dict[str, list[Any]]) -> int:
    """Distinct effective configurations in a random-sweep space (adaptive-only settings count for adaptive only)."""
    total = 0
    for kind in dict.fromkeys(space.get("kind", ["adaptive"])):
        n = 1
        for k, vals in space.items():
            if k != "kind" and not (kind != "adaptive" and k in ADAPTIVE_ONLY):
                n *= len({_norm(v) for v in vals})
        total += n
    return total


def parse_space(spec: str | None) -> dict[str, list[Any]]:
    """'rsi_period=10,14,21;buy=25,30' -> value lists (ranges 'a..b' for integers); unknown names are errors."""
    out: dict[str, list[Any]] = {}
    for part in (spec or "").split(";"):
        if not part.strip():
            continue
        name, sep, values = part.partition("=")
        name = name.strip()
        if not sep or name not in _CAST:
            raise ConfigError(f"bad sweep parameter '{part.strip()}' (NAME=v1,v2,...; names: {', '.join(_CAST)})", field="params")
        try:
            vals: list[Any] = []
            for v in values.split(","):
                v = v.strip()
                if ".." in v and _CAST[name] is int:
                    a, b = v.split("..")
                    vals += list(range(int(a), int(b) + 1))
                elif v:
                    vals.append(_CAST[name](v))
        except ValueError:
            raise ConfigError(f"bad value in '{part.strip()}'", field="params") from None
        if not vals:
            raise ConfigError(f"no values for '{name}'", field="params")
        out[name] = vals
    return out


def trial_settings(method: str, space: dict[str, list[Any]], n: int | None, seed: int) -> list[dict[str, Any]]:
    """The trials' parameter dicts: the full grid of `space`, or n distinct random draws from SPACE updated by `space`.

    Random draws are distinct by effective settings (`config_key`): a draw equal to an earlier one
    is drawn again, and a fixed-kind draw leaves out the adaptive-only settings it ignores. When the
    space holds fewer than n distinct configurations, all of them are returned (fewer than n).
    """
    if method == "grid":
        if not space:
            raise ConfigError("a grid sweep needs --params, e.g. 'rsi_period=10,14,21;buy=25,30'", field="params")
        names = list(space)
        combos = [dict(zip(names, c)) for c in itertools.product(*(space[k] for k in names))]
        return combos[:n] if n else combos
    if method != "random":
        raise ConfigError(f"unknown sweep method '{method}' (grid|random)", field="method")
    if not n or n < 1:
        raise ConfigError("a random sweep needs --trials N >= 1", field="trials")
    full = {**SPACE, **space}
    rng = random.Random(seed)
    want = min(n, space_size(full))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(100 * want + 10_000):  # rejection sampling; the cap only bites on pathological spaces
        if len(out) == want:
            break
        p = {k: rng.choice(v) for k, v in full.items()}  # every name drawn, so the stream does not depend on kind
        if p["kind"] != "adaptive":
            p = {k: v for k, v in p.items() if k not in ADAPTIVE_ONLY}
        key = config_key(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def make_config(base: StrategyConfig, params: dict[str, Any]) -> StrategyConfig:
    """The base config with a trial's parameters (a ConfigError names an invalid combination)."""
    return replace(base, **params)


@dataclass(frozen=True)
class TrialMetrics:
    """What one trial sends back: per-stock arrays and the portfolio excess series' moments."""

    total_return: np.ndarray
    buy_hold_return: np.ndarray
    sharpe: np.ndarray
    win_rate: np.ndarray
    trades: np.ndarray
    first: np.ndarray
    last: np.ndarray
    excess_sharpe: float
    excess_skew: float
    excess_kurt: float
    n_obs: int
    mean_daily_excess: float


@njit(cache=True, nogil=True, error_model="numpy")  # x / 0.0 -> inf like numpy, no exception
def _daily_returns_into(v: np.ndarray, valid: np.ndarray, out: np.ndarray) -> None:
    """research.verdict.daily_returns compiled (same operations, so the same bits), without the GIL."""
    n, t_len = v.shape
    for i in range(n):
        prev = -1
        for t in range(t_len):
            x = v[i, t]
            ok = valid[i, t] and np.isfinite(x)
            out[i, t] = x / v[i, prev] - 1.0 if ok and prev >= 0 else np.nan
            if ok:
                prev = t


def daily_returns_fast(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[symbol, t] simple returns between consecutive valid bars, bit-identical to verdict.daily_returns."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty(v.shape)
    if v.size:
        _daily_returns_into(v, np.ascontiguousarray(valid, dtype=np.bool_), out)
    return out


_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()  # the threads executor runs trials of one sweep side by side


def _bars_and_features(batch: Batch) -> tuple[Any, Any]:
    """This worker's bars and features for the batch's data (kept while the data spec is the same)."""
    bars, feats, _ = _worker_data(batch)
    return bars, feats


def _worker_data(batch: Batch) -> tuple[Any, Any, np.ndarray]:
    """Bars, features and buy-and-hold daily returns for the batch's data, computed once per data spec and worker."""
    from adaptrade.parallel.batching import MemorySpec
    from adaptrade.backtest.engine import Features

    # an in-memory spec is matched by identity and kept alive here, so its id cannot be reused
    # by a later sweep's spec while the cache still holds these bars
    key = ("memory" if isinstance(batch.spec, MemorySpec) else repr(batch.spec), batch.symbols, batch.fingerprint)
    with _CACHE_LOCK:
        same_memory = isinstance(batch.spec, MemorySpec) and _CACHE.get("spec") is batch.spec
        if not (_CACHE.get("key") == key and (same_memory or not isinstance(batch.spec, MemorySpec))):
            bars = load_batch(batch)
            _CACHE.clear()
            _CACHE.update(key=key, spec=batch.spec, bars=bars, features=Features.compute(bars),
                          buy_hold=daily_returns_fast(bars.close, bars.valid))
        return _CACHE["bars"], _CACHE["features"], _CACHE["buy_hold"]


def run_trial(batch: Batch) -> TrialMetrics:
    """Run one trial (the function the executors map); returns metrics, not equity."""
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.backtest.kernel import T_EXIT_T, T_RETURN, T_SYMBOL
    from adaptrade.backtest.metrics import stock_metrics
    from adaptrade.research.stats import moments
    from adaptrade.research.verdict import portfolio_series

    bars, feats, buy_hold = _worker_data(batch)
    out = run_backtest(bars, batch.config, feats)
    tr = out.trades
    m = stock_metrics(out.equity, bars.close, bars.valid, out.in_market, tr[:, T_SYMBOL], tr[:, T_RETURN],
                      tr[:, T_EXIT_T] >= 0, None, batch.config.initial_cash)
    series = portfolio_series(daily_returns_fast(out.equity, bars.valid) - buy_hold)  # = verdict.excess_panel
    mo = moments(series)
    return TrialMetrics(m["total_return"], m["buy_hold_return"], m["sharpe"], m["win_rate"], m["trades"],
                        m["first_index"], m["last_index"], mo.sharpe, mo.skew, mo.kurt, mo.n,
                        float(np.mean(series)) if series.size else math.nan)


def _metrics_from_block(block: dict[str, np.ndarray], j: int, bh: np.ndarray, first: np.ndarray,
                        last: np.ndarray) -> TrialMetrics:
    """Configuration j of a compiled block as the TrialMetrics `run_trial` returns (same operations, same bits)."""
    from adaptrade.research.stats import moments

    closed = block["closed"][j]
    with np.errstate(invalid="ignore", divide="ignore"):  # stock_metrics' win rate
        win_rate = np.where(closed > 0, block["wins"][j] / np.maximum(closed, 1), np.nan)
    cnt = block["xcnt"][j]
    has = cnt > 0
    series = block["xsum"][j][has] / cnt[has]  # portfolio_series: numpy's nanmean over the stocks
    mo = moments(series)
    return TrialMetrics(block["total"][j].copy(), bh, block["sharpe"][j].copy(), win_rate, closed.copy(), first, last,
                        mo.sharpe, mo.skew, mo.kurt, mo.n, float(np.mean(series)) if series.size else math.nan)


def run_compiled(bars: Any, feats: Any, buy_hold: np.ndarray, configs: list[StrategyConfig]) -> list[TrialMetrics]:
    """Every configuration over the same bars and features in one compiled pass; the metrics `run_trial` gives each."""
    from adaptrade.backtest.engine import initial_states
    from adaptrade.backtest.sweep_kernel import run_block
    from adaptrade.stats import daily_rf
    from adaptrade.strategy.params import P_RSI_ROW0, PERIODS

    params = np.stack([c.to_vector() for c in configs])
    params[:, P_RSI_ROW0] = feats.first_period - PERIODS[0]
    states = np.concatenate([initial_states(1, c) for c in configs])
    valid = np.ascontiguousarray(bars.valid)
    block = run_block(np.ascontiguousarray(bars.open), np.ascontiguousarray(bars.close), valid, feats.rsi, feats.vol,
                      np.ascontiguousarray(buy_hold), params, states, daily_rf(0.0))
    has = valid.any(axis=1)
    first = np.where(has, np.argmax(valid, axis=1), 0).astype(np.intp)  # stock_metrics' first/last valid index (0: none)
    last = np.where(has, valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1), 0).astype(np.intp)
    rows = np.arange(valid.shape[0])
    bh = np.where(has, bars.close[rows, last] / bars.close[rows, first] - 1.0, np.nan)
    return [_metrics_from_block(block, j, bh, first, last) for j in range(len(configs))]


@dataclass(frozen=True)
class TrialBatch(Batch):
    """Several trials in one task (index, config), so per-task executor overhead is paid once per chunk.

    `compiled`: the chunk's configurations run in one compiled pass (`run_compiled`); False runs
    them one by one (`run_trial`, the reference the compiled pass is tested against).
    """

    trials: tuple[tuple[int, StrategyConfig], ...] = ()
    compiled: bool = True


def run_trials(batch: TrialBatch) -> list[tuple[int, TrialMetrics | None, str | None]]:
    """Run a chunk of trials on the same data; a trial that raises is reported alone, the others still run.

    Configurations the features cover run together in the compiled pass; any other (e.g. a fixed
    RSI period outside the 10..21 stack) goes through `run_trial`, which reports why it fails.
    """
    out: dict[int, tuple[int, TrialMetrics | None, str | None]] = {}
    alone = list(batch.trials)
    if batch.compiled and batch.trials:
        bars, feats, buy_hold = _worker_data(batch)
        together = [(i, c) for i, c in batch.trials if feats.covers(c)]
        alone = [(i, c) for i, c in batch.trials if not feats.covers(c)]
        if together:
            tms = run_compiled(bars, feats, buy_hold, [c for _, c in together])
            out.update({i: (i, tm, None) for (i, _), tm in zip(together, tms)})
    for index, cfg in alone:
        try:
            out[index] = (index, run_trial(replace(batch, config=cfg)), None)
        except Exception as exc:  # noqa: BLE001 - recorded as a failed trial (and counted by the DSR)
            out[index] = (index, None, f"{type(exc).__name__}: {exc}")
    return [out[i] for i, _ in batch.trials]


def chunk_size(n_trials: int, workers: int, remote: bool, compiled: bool = True) -> int:
    """Trials per task (one compiled pass each): ~4 tasks per thread in process (progress, balance), at most 64
    trials each (bounded memory: a task keeps [trials, bars] excess sums); on remote workers ~10 tasks each, at most 50.
    The one-by-one reference path runs one trial per task in process."""
    if not remote:
        if not compiled:
            return 1
        return max(1, min(64, math.ceil(n_trials / (workers * 4))))
    return max(1, min(50, math.ceil(n_trials / (workers * 10))))


def trial_row(index: int, params: dict[str, Any], cfg: StrategyConfig | None, tm: TrialMetrics | None,
              bench: np.ndarray | None, error: str | None) -> dict[str, Any]:
    """One recorded trial: its settings (all of them) and its metrics (NaN when it failed)."""
    row: dict[str, Any] = {"trial": index, "params": ",".join(f"{k}={v}" for k, v in params.items())}
    base = (cfg or StrategyConfig()).describe()
    row.update({k: base[k] for k in ("strategy", "rsi_period", "buy", "sell", "learning_alpha", "threshold_step",
                                     "min_trades_to_adapt", "commission_bps", "slippage_bps", "fill")})
    nan = math.nan
    if tm is None:
        row.update(ok=False, error=error or "invalid configuration", mean_return=nan, median_return=nan, mean_buy_hold=nan,
                   beat_buy_hold_share=nan, beat_benchmark_share=nan, median_outperformance=nan, mean_sharpe=nan,
                   mean_win_rate=nan, trades=0, excess_sharpe=nan, excess_skew=nan, excess_kurt=nan, n_obs=0, mean_daily_excess=nan)
        return row
    ok = np.isfinite(tm.total_return)
    if bench is not None:
        b = benchmark_return(bench, np.nan_to_num(tm.first, nan=0).astype(np.intp), np.nan_to_num(tm.last, nan=0).astype(np.intp))
        outp = tm.total_return - b
    else:
        outp = np.full(tm.total_return.shape, nan)
    with warnings.catch_warnings():  # all-NaN columns (e.g. no closed trades anywhere) give NaN, said so in the table
        warnings.simplefilter("ignore", RuntimeWarning)
        row.update(ok=True, error=None, mean_return=float(np.nanmean(tm.total_return)), median_return=float(np.nanmedian(tm.total_return)),
                   mean_buy_hold=float(np.nanmean(tm.buy_hold_return)),
                   beat_buy_hold_share=float(np.mean((tm.total_return > tm.buy_hold_return)[ok])) if ok.any() else nan,
                   beat_benchmark_share=float(np.mean(outp[ok] > 0)) if ok.any() and bench is not None else nan,
                   median_outperformance=float(np.nanmedian(outp)) if bench is not None else nan,
                   mean_sharpe=float(np.nanmean(tm.sharpe)), mean_win_rate=float(np.nanmean(tm.win_rate)),
                   trades=int(tm.trades.sum()), excess_sharpe=tm.excess_sharpe, excess_skew=tm.excess_skew,
                   excess_kurt=tm.excess_kurt, n_obs=tm.n_obs, mean_daily_excess=tm.mean_daily_excess)
    return row


class AllTrialsFailed(ConfigError):
    """Every trial of a sweep failed: the first distinct errors in the message, the trial rows kept (issue 11)."""

    def __init__(self, trials: Any) -> None:
        errs = list(dict.fromkeys(str(e) for e in trials["error"].dropna()))
        shown = "; ".join(errs[:3]) + (f"; ... ({len(errs) - 3} more distinct)" if len(errs) > 3 else "")
        super().__init__(f"every one of {len(trials)} trials failed: {shown or 'no metrics'}", field="params")
        self.trials = trials


@dataclass(frozen=True)
class SweepResult:
    """Every trial's row (in trial order), the best trial and the DSR over the distinct configurations tried."""

    trials: Any  # pandas DataFrame, one row per trial
    best: dict[str, Any]
    deflated: dict[str, Any]
    executor: str
    workers: int
    seconds: float


def run_sweep(req: Any, settings: Any, params: list[dict[str, Any]], *, executor: str | None = None,
              workers: int | None = None, scheduler: str | None = None,
              progress: Callable[[int], None] | None = None, data: Any = None, compiled: bool = True) -> SweepResult:
    """Run every distinct configuration once on an executor; record every trial; deflate the best by the distinct count.

    `compiled=False` runs the configurations one kernel call each (the reference path; same rows).
    """
    import time

    import pandas as pd

    from adaptrade.parallel import runner
    from adaptrade.parallel.batching import fingerprint
    from adaptrade.parallel.executors import IN_PROCESS, make_executor
    from adaptrade.research.stats import dsr

    t0 = time.perf_counter()
    loaded = data if data is not None else runner.load_data(req, settings)
    bars = loaded.bars
    ex = make_executor(executor or settings.executor, workers or settings.workers, scheduler or settings.scheduler,
                       work=bars.n_symbols * bars.n_bars * len(params))
    remote = ex.name not in IN_PROCESS
    spec = runner.data_spec(req, settings, loaded, remote)
    fp = fingerprint(bars) if remote else None
    configs: list[StrategyConfig | None] = []
    errors: dict[int, str] = {}
    for i, p in enumerate(params):
        try:
            configs.append(make_config(req.strategy, p))
        except (ConfigError, TypeError) as exc:
            configs.append(None)
            errors[i] = str(exc)
    keys = [config_key(p, req.strategy) for p in params]
    first: dict[str, int] = {}
    same_as = [first.setdefault(key, i) for i, key in enumerate(keys)]  # the first trial with the same effective settings
    todo = [(i, c) for i, c in enumerate(configs) if c is not None and same_as[i] == i]
    k = chunk_size(len(todo), ex.workers, remote, compiled)
    batches = [TrialBatch(j, bars.symbols, spec, todo[a][1], dates=bars.dates if remote else None, fingerprint=fp,
                          trials=tuple(todo[a:a + k]), compiled=compiled) for j, a in enumerate(range(0, len(todo), k))]
    done = 0

    def on_done(o: Any) -> None:
        """Progress in trials (a chunk counts all its trials)."""
        nonlocal done
        done += len(batches[o.index].trials)
        if progress is not None:
            progress(done)

    results: dict[int, tuple[TrialMetrics | None, str | None]] = {}
    for o in ex.map(run_trials, batches, on_done):  # type: ignore[arg-type]
        if o.ok:
            results.update({i: (tm, e) for i, tm, e in o.result})  # type: ignore[union-attr]
        else:  # the whole chunk failed (e.g. its worker died): every trial in it is a failed trial
            results.update({i: (None, o.error) for i, _ in batches[o.index].trials})
    if progress is not None and done < len(params):
        progress(len(params))  # repeats of a configuration were not run again
    rows = []
    for i, (p, c) in enumerate(zip(params, configs)):
        tm, e = results.get(same_as[i], (None, None))
        row = trial_row(i, p, c, tm, loaded.benchmark_close, errors.get(i) or e)
        row.update(config_key=keys[i], same_as=same_as[i], distinct=same_as[i] == i)
        rows.append(row)
    df = pd.DataFrame(rows)
    uniq = df[df["distinct"]]
    good = uniq[uniq["ok"] & np.isfinite(uniq["excess_sharpe"])]
    if good.empty:
        raise AllTrialsFailed(df)
    best = good.sort_values(["excess_sharpe", "trial"], ascending=[False, True]).iloc[0].to_dict()
    d = dsr(float(best["excess_sharpe"]), int(best["n_obs"]), float(best["excess_skew"]), float(best["excess_kurt"]),
            good["excess_sharpe"].tolist(), n_trials=len(uniq))
    deflated = {"dsr": d.dsr, "sr0": d.sr0, "n_trials": d.n_trials, "sr_variance": d.sr_variance,
                "failed_trials": int((~uniq["ok"]).sum()), "best_trial": int(best["trial"]),
                "requested_trials": len(df), "distinct_configs": len(uniq), "repeated_trials": len(df) - len(uniq)}
    return SweepResult(df, best, deflated, ex.name, ex.workers, time.perf_counter() - t0)
