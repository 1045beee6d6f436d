"""Backtest cycles: K consecutive, non-overlapping periods; each period trades the stocks that
scored best in the periods before it, and is judged out of sample against the stocks it left out.

Every candidate is backtested in every period (that is what makes the comparison and the next
scores possible); "selected" marks the stocks the rule would have traded. The strategy state is
not carried across periods. Archive candidates pass the liquidity filter as of each period's
start (volume before the start only); synthetic volumes are not filtered.

With the point-in-time NASDAQ-100 (`pit_by_cycle`, archive only) each period's candidates are the
members on that period's start date that have a price file: a later joiner is not a candidate before
it joined, a removed member stops being one; scores from earlier periods rank whoever is a candidate.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from adaptrade.parallel import runner
from adaptrade.errors import ConfigError
from adaptrade.settings import DATA_END, Settings
from adaptrade.universe.scoring import FORMULA, quality_scores, select_top

if TYPE_CHECKING:
    from adaptrade.universe.universe import NasdaqUniverse, PointInTime



@dataclass(frozen=True)
class CycleReport:
    """One period: what was selected and why, and how the selection did against the rest."""

    cycle: int
    start: str
    end: str
    selection: pd.DataFrame  # symbol, score, rank, selected, reason (candidates of this period)
    stocks: pd.DataFrame  # the period's backtest results, one row per stock run
    scores: pd.DataFrame  # this period's quality scores (feed the next period)
    dropped: list[str]  # liquidity filter lines
    failed: list[str]  # symbols whose batch failed
    pit: PointInTime | None = None  # point-in-time NASDAQ-100 on `start` (nasdaq100-pit only)

    def pit_line(self) -> str | None:
        """Members on the period's start, how many without a price file, how many candidates (nasdaq100-pit only)."""
        if self.pit is None:
            return None
        p = self.pit
        return (f"point-in-time NASDAQ-100 on {p.date}: {len(p.members)} members, {len(p.without_data)} without a price file"
                + (f", {len(p.late_data)} whose file starts later" if p.late_data else "")
                + f"; {len(p.with_data)} with data, {len(self.selection)} candidates"
                + (" after the liquidity filter" if self.dropped else ""))

    def comparison(self) -> dict[str, object]:
        """Mean return, mean Sharpe, beat share and count for selected vs unselected stocks."""
        sel = set(self.selection.loc[self.selection["selected"], "symbol"])
        out: dict[str, object] = {"cycle": self.cycle, "start": self.start, "end": self.end}
        for name, mask in (("selected", self.stocks["symbol"].isin(sel)), ("unselected", ~self.stocks["symbol"].isin(sel))):
            g = self.stocks[mask]
            out[f"{name}_n"] = len(g)
            out[f"{name}_mean_return"] = float(g["total_return"].mean()) if len(g) else np.nan
            out[f"{name}_mean_sharpe"] = float(g["sharpe"].mean()) if len(g) else np.nan
            out[f"{name}_beat_share"] = float((g["outperformance"] > 0).mean()) if len(g) else np.nan
        if self.pit is not None:
            out["members"] = len(self.pit.members)
            out["members_without_data"] = len(self.pit.without_data)
            out["members_with_data"] = len(self.pit.with_data)
            out["candidates"] = len(self.selection)
        out["scored_before"] = bool(self.selection["score"].notna().any())
        out["random_percentile"] = placebo_percentile(self.stocks["total_return"].to_numpy(np.float64),
                                                      self.stocks["symbol"].isin(sel).to_numpy())
        return out


def placebo_percentile(returns: np.ndarray, selected: np.ndarray, draws: int = 2000, seed: int = 0) -> float:
    """Share of random same-size selections whose mean-return gap (selected - rest) is below the actual one.

    ~0.5 means the rule did no better than picking at random; near 1.0 means few random picks did as well.
    """
    ok = np.isfinite(returns)
    r, m = returns[ok], selected[ok]
    k, n = int(m.sum()), len(r)
    if k == 0 or k == n:
        return float("nan")
    gap = lambda mask: r[mask].mean() - r[~mask].mean()
    actual = gap(m)
    rng = np.random.default_rng(seed)
    idx = np.argsort(rng.random((draws, n)), axis=1)[:, :k]
    masks = np.zeros((draws, n), dtype=bool)
    np.put_along_axis(masks, idx, True, axis=1)
    sums = masks @ r
    gaps = sums / k - (r.sum() - sums) / (n - k)
    return float(np.mean(gaps < actual))


def periods(source: str, cycles: int, period_bars: int, start: str | None, end: str | None) -> list[np.ndarray]:
    """The K consecutive session blocks of `period_bars` NYSE sessions each."""
    from adaptrade.data.calendar import nyse_sessions, nyse_sessions_between

    if cycles < 1:
        raise ConfigError("--cycles must be at least 1", field="cycles")
    if period_bars < 30:
        raise ConfigError("--period-bars must be at least 30", field="period_bars")
    total = cycles * period_bars
    last = end or DATA_END
    try:
        if start:
            sessions = nyse_sessions_between(start, last)
            if len(sessions) < total:
                raise ConfigError(f"{cycles} cycles x {period_bars} bars need {total} sessions; {start}..{last} has {len(sessions)}", field="cycles")
            sessions = sessions[:total]
        else:
            sessions = nyse_sessions(last, total)
    except ValueError as exc:
        raise ConfigError(str(exc), field="start") from None
    return [sessions[i * period_bars : (i + 1) * period_bars] for i in range(cycles)]


def pit_by_cycle(universe: NasdaqUniverse, source: str, cycles: int, period_bars: int, start: str | None,
                 end: str | None) -> list[PointInTime]:
    """The point-in-time NASDAQ-100 on each period's start date (archive only; computed once per period).

    The union of their `with_data` lists is what to load; `run_cycles(pit=...)` restricts each period to its own."""
    if source != "archive":
        raise ConfigError("--universe nasdaq100-pit needs --source archive: the membership history names real stocks, "
                          "synthetic data has none", field="universe")
    return [universe.point_in_time(str(days[0])) for days in periods(source, cycles, period_bars, start, end)]


def pit_union(pits: list[PointInTime]) -> list[str]:
    """Every symbol that is a candidate (member with a price file) in at least one period, sorted."""
    return sorted({s for p in pits for s in p.with_data})


def _period_data(req: runner.RunRequest, settings: Settings, symbols: list[str], days: np.ndarray,
                 total_bars: int, full_end: str) -> tuple[runner.RunRequest, runner.LoadedData]:
    """The period's request (so workers can rebuild their slice) and its loaded data."""
    lo, hi = str(days[0]), str(days[-1])
    if req.source == "synthetic":
        preq = dataclasses.replace(req, symbols=tuple(symbols), universe=None, stocks=None, bars=total_bars, start=lo, end=full_end)
        full = runner.load_data(preq, settings)
        keep = (full.bars.dates >= days[0]) & (full.bars.dates <= days[-1])
        bench = None if full.benchmark_close is None else full.benchmark_close[keep]
        return preq, dataclasses.replace(full, bars=full.bars.slice_dates(lo, hi), benchmark_close=bench)
    preq = dataclasses.replace(req, symbols=tuple(symbols), universe=None, stocks=None, start=lo, end=hi)
    return preq, runner.load_data(preq, settings)


def run_cycles(req: runner.RunRequest, settings: Settings, candidates: list[str], *, cycles: int, period_bars: int,
               select: int, db_path: str | Path | None = None, executor: str | None = None, workers: int | None = None,
               scheduler: str | None = None, on_cycle: Callable[[CycleReport], None] | None = None,
               min_dollar_volume: float | None = None, pit: list[PointInTime] | None = None) -> tuple[str, list[CycleReport]]:
    """Run the cycles; store each period's scores (run id, cycle) when `db_path` is given.

    With `pit` (from `pit_by_cycle`, one per period) a period's candidates are those of `candidates`
    that were members with a price file on its start date.

    Archive candidates pass the liquidity filter on shares (`settings.min_volume`) or, with
    `min_dollar_volume`, on average close x volume (split-invariant, see `universe/liquidity.py`).
    """
    from adaptrade.universe.liquidity import liquidity_filter

    blocks = periods(req.source, cycles, period_bars, req.start, req.end)
    if pit is not None:
        if req.source != "archive":
            raise ConfigError("--universe nasdaq100-pit needs --source archive: the membership history names real stocks, "
                              "synthetic data has none", field="universe")
        if [p.date for p in pit] != [str(days[0]) for days in blocks]:
            raise ConfigError("point-in-time memberships do not match the periods' start dates", field="start")
    full_end = str(blocks[-1][-1])
    run_id = f"cycle-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    scores = pd.DataFrame(columns=["symbol", "score"])
    reports: list[CycleReport] = []
    for k, days in enumerate(blocks, start=1):
        lo = str(days[0])
        pool, dropped = list(candidates), []
        if pit is not None:
            members = set(pit[k - 1].with_data)
            pool = [s for s in pool if s in members]
            if not pool:
                raise ConfigError(f"cycle {k}: no NASDAQ-100 member on {lo} can be run ({len(pit[k - 1].members)} members, "
                                  f"{len(pit[k - 1].without_data)} without a price file)", field="start")
        if req.source == "archive":
            data_dir, _ = runner.resolve_data_dir(req, settings)
            liq = liquidity_filter(data_dir, pool, lo, window=settings.liquidity_window, min_volume=settings.min_volume,
                                   min_dollar_volume=min_dollar_volume,
                                   cache_dir=settings.cache_dir, policy=settings.repair_policy)
            pool, dropped = liq.kept, liq.lines()
        if not pool:
            raise ConfigError(f"cycle {k}: no candidate passes the liquidity filter as of {lo}",
                              field="min_volume" if min_dollar_volume is None else "min_dollar_volume")
        _, selection = select_top(scores, pool, select)
        preq, data = _period_data(req, settings, pool, days, cycles * period_bars, full_end)
        result, _ = runner.run(preq, settings, data=data, executor=executor, workers=workers, scheduler=scheduler)
        period_scores = quality_scores(result.stocks, settings.score_weights)
        if db_path is not None and len(period_scores):
            from adaptrade.storage.scores import ScoreStore

            with ScoreStore(db_path) as ss:
                ss.save(period_scores, run_id, k, (lo, str(days[-1])), FORMULA, source=req.source)
        rep = CycleReport(k, lo, str(days[-1]), selection, result.stocks, period_scores, dropped,
                          list(result.settings.get("failed_symbols", [])),  # type: ignore[call-overload]
                          None if pit is None else pit[k - 1])
        reports.append(rep)
        if on_cycle:
            on_cycle(rep)
        scores = pd.concat([scores[~scores["symbol"].isin(period_scores["symbol"])], period_scores[["symbol", "score"]]],
                           ignore_index=True)  # latest score per symbol
    return run_id, reports


def summary_table(reports: list[CycleReport]) -> pd.DataFrame:
    """One row per cycle: selected vs unselected (mean return, mean Sharpe, beat share)."""
    return pd.DataFrame([r.comparison() for r in reports])


def verdict(table: pd.DataFrame) -> str:
    """An honest one-paragraph reading of the out-of-sample comparison (cycles with prior scores only)."""
    t = table[table["scored_before"]]
    if t.empty:
        return "No cycle had scores from an earlier cycle, so the selection rule was not tested (run 2+ cycles)."
    d_ret = (t["selected_mean_return"] - t["unselected_mean_return"]).to_numpy()
    m_ret = float(pd.Series(d_ret).mean())  # NaN-skipping, no warning when all are NaN
    m_sh = float((t["selected_mean_sharpe"] - t["unselected_mean_sharpe"]).mean())
    wins = int(np.sum(d_ret > 0))
    return (f"Out of sample ({len(t)} cycles with prior scores): the selected stocks' mean return was "
            f"{'above' if m_ret > 0 else 'NOT above'} the unselected ones' on average "
            f"({m_ret * 100:+.2f} points; ahead in {wins} of {len(t)} cycles), mean Sharpe difference "
            f"{m_sh:+.2f}; the selection's return gap beat {', '.join(f'{p * 100:.0f}%' for p in t['random_percentile'])} "
            "of random same-size selections (50% = no better than chance). "
            "With this few cycles none of this is statistically meaningful either way.")
