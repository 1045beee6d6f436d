"""Request and response models of the API; every field is described so /api/v1/openapi.json documents it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Scalar = str | int | float | bool | None


def _iso_day(value: object) -> object:
    """Only YYYY-MM-DD text is a date here (pydantic would also take 0 as 1970-01-01)."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_day)]


class Problem(BaseModel):
    """An RFC 7807 problem (media type application/problem+json)."""

    type: str = Field("about:blank", description="URI naming the problem type.")
    title: str = Field(..., description="Short summary of the problem type (the HTTP reason phrase).")
    status: int = Field(..., description="HTTP status code.")
    detail: str = Field(..., description="What went wrong with this request, in one line.")
    instance: str | None = Field(None, description="The request path.")


class Health(BaseModel):
    status: Literal["ok"] = Field("ok", description="Always ok while the process answers.")
    version: str = Field(..., description="adaptrade version.")


class Dependency(BaseModel):
    ok: bool = Field(..., description="Whether it answered.")
    detail: str = Field(..., description="What was checked, or why it failed (no secrets).")


class Ready(BaseModel):
    ready: bool = Field(..., description="True when the store and Redis both answer.")
    store: Dependency = Field(..., description="The run store.")
    redis: Dependency = Field(..., description="Redis (event bus and cache).")
    pending_events: int = Field(..., description="Events waiting for Redis to come back.")


class PageInfo(BaseModel):
    offset: int = Field(..., description="Index of the first row returned.")
    limit: int = Field(..., description="Most rows returned.")
    total: int = Field(..., description="Rows matching the filters.")


class UniverseMember(BaseModel):
    symbol: str = Field(..., description="Ticker.")
    name: str = Field(..., description="Company name ('' when unknown).")
    sector: str = Field(..., description="GICS sector ('' when unknown).")
    source: str = Field(..., description="Which list the symbol comes from.")


class UniverseList(BaseModel):
    universe: str = Field(..., description="nasdaq100 | extended.")
    sector: str | None = Field(None, description="Sector filter applied.")
    members: list[UniverseMember] = Field(..., description="Members, in list order.")


class Score(BaseModel):
    model_config = ConfigDict(extra="allow")
    run_id: str = Field(..., description="Run (cycle) that produced the score.")
    cycle: int = Field(..., description="Cycle number within the run.")
    scored_at: str = Field(..., description="When the score was stored (UTC, ISO 8601).")
    period_start: str | None = Field(None, description="First date of the scored period.")
    period_end: str | None = Field(None, description="Last date of the scored period.")
    symbol: str = Field(..., description="Ticker.")
    score: float | None = Field(None, description="Quality score (weights in settings.score_weights).")
    sharpe: float | None = Field(None, description="Annualised Sharpe of the period.")
    win_rate: float | None = Field(None, description="Share of winning trades, 0..1.")
    trades: float | None = Field(None, description="Closed trades in the period.")
    total_return: float | None = Field(None, description="Strategy return of the period (fraction).")
    outperformance: float | None = Field(None, description="Return minus the benchmark's (fraction).")
    formula: str | None = Field(None, description="The score formula used.")


class SymbolInfo(BaseModel):
    symbol: str = Field(..., description="Ticker.")
    name: str = Field(..., description="Company name ('' when unknown).")
    sector: str = Field(..., description="GICS sector ('' when unknown).")
    lists: list[str] = Field(..., description="Universe lists that hold the symbol.")
    has_data: bool = Field(..., description="Whether the data root has a price file for it.")
    first_date: str | None = Field(None, description="First session of its price file.")
    last_date: str | None = Field(None, description="Last session of its price file.")
    sessions: int | None = Field(None, description="Rows of its price file.")
    latest_score: Score | None = Field(None, description="Its latest stored quality score, if any.")


class ScoreList(BaseModel):
    source: str | None = Field(None, description="Data-source filter applied.")
    scores: list[Score] = Field(..., description="Latest score per symbol, best first.")


class ScoreHistory(BaseModel):
    symbol: str = Field(..., description="Ticker.")
    scores: list[Score] = Field(..., description="Every stored score, oldest first.")


class RunRow(BaseModel):
    id: str = Field(..., description="Run id.")
    created: str = Field(..., description="When the run was stored (UTC, ISO 8601).")
    status: str = Field(..., description="complete | partial (some stocks failed).")
    source: str | None = Field(None, description="synthetic | archive.")
    mode: str = Field(..., description="per-stock | portfolio (backtests) | paper (a paper session stored by `paper run --db`).")
    strategy: str | None = Field(None, description="adaptive | fixed.")
    stocks: int | None = Field(None, description="Stocks in the run.")
    start: str | None = Field(None, description="First date of the run.")
    end: str | None = Field(None, description="Last date of the run.")
    mean_return: float | None = Field(None, description="Mean strategy return over the stocks (fraction).")
    mean_sharpe: float | None = Field(None, description="Mean annualised Sharpe over the stocks.")
    beat_share: float | None = Field(None, description="Share of stocks that beat the benchmark.")


class RunList(BaseModel):
    page: PageInfo = Field(..., description="Which rows these are.")
    runs: list[RunRow] = Field(..., description="Runs, newest first.")


class RunDetail(RunRow):
    settings: dict[str, Any] = Field(..., description="Settings the run was made with (strategy, costs, data, executor).")
    summary: dict[str, Any] = Field(..., description="summary.json of the run (aggregate block, failures).")
    counts: dict[str, int] = Field(..., description="Rows stored per table (stocks, trades, params, equity, orders, fills, risk_events, "
                                                    "order_history, account, curves).")


class RunTable(BaseModel):
    run_id: str = Field(..., description="Run id.")
    table: str = Field(..., description="stocks | trades | params | orders | fills.")
    symbol: str | None = Field(None, description="Symbol filter applied.")
    page: PageInfo = Field(..., description="Which rows these are.")
    columns: list[str] = Field(..., description="Column names, as in the run's CSV files (docs/output.md).")
    rows: list[dict[str, Scalar]] = Field(..., description="Rows in saved order, one object per row keyed by column.")


class EquityPoint(BaseModel):
    date: str = Field(..., description="Date of the point (YYYY-MM-DD): a bar (basis bar_by_bar) or a trade exit (basis realised_at_exit).")
    equity: float = Field(..., description="Strategy equity as a multiple of the start (1.0): the mean over stocks of each stock's "
                                           "normalised equity, the account equity / its first value, or one stock's equity (see `view`).")
    buy_hold: float | None = Field(None, description="Buy-and-hold on the same date, 1.0 at the start: the mean over stocks of each stock's "
                                                     "normalised close, or (portfolio run) an equal-weight buy-and-hold of the universe "
                                                     "after costs. Null for one stock (not stored per stock) and for basis realised_at_exit.")
    benchmark: float | None = Field(None, description="Benchmark close (S&P 500: SPY or ^GSPC; synthetic runs a synthetic index) on the "
                                                      "same date, 1.0 at the start (per-stock run: the mean over stocks of the benchmark "
                                                      "normalised at each stock's first bar; one stock: at its first bar). Null where "
                                                      "the run has no benchmark data and for basis realised_at_exit.")
    drawdown: float | None = Field(None, description="Drawdown of `equity` from its running peak on this date (0 at a high, negative "
                                                     "below; portfolio run: the account's own drawdown from its high-water mark).")


class Equity(BaseModel):
    run_id: str = Field(..., description="Run id.")
    symbol: str | None = Field(None, description="One stock, or null for the mean over the run's stocks (or a portfolio run's account).")
    basis: Literal["bar_by_bar", "realised_at_exit"] = Field(..., description="bar_by_bar: one point per bar, from the curves "
                                                             "stored with the run (or, for one stock, its stored equity); "
                                                             "realised_at_exit: a run stored before the curves were (schema "
                                                             "version 8), the curve steps at each trade exit (open positions "
                                                             "not marked) and buy_hold / benchmark are only the end returns below.")
    view: Literal["mean_of_stocks", "account", "stock"] = Field(..., description="What `equity` is: the mean over a per-stock run's "
                                                                "stocks, a portfolio run's one account, or one stock (symbol filter); basis "
                                                                "realised_at_exit is always the mean of stocks or one stock.")
    benchmark_symbol: str | None = Field(None, description="The run's benchmark (SPY, ^GSPC, or a synthetic index).")
    page: PageInfo = Field(..., description="Which points these are.")
    points: list[EquityPoint] = Field(..., description="The curve, oldest first.")
    strategy_return: float | None = Field(None, description="Mean total return of the strategy (marked at the last bar).")
    buy_hold_return: float | None = Field(None, description="Mean buy-and-hold return of the stocks.")
    benchmark_return: float | None = Field(None, description="Benchmark return over the run (SPY or ^GSPC).")


class BacktestBody(BaseModel):
    """The flags of `adaptrade backtest` that a job takes (paths and output flags excluded)."""

    model_config = ConfigDict(extra="forbid")
    source: Literal["synthetic", "archive"] = Field("synthetic", description="--source: synthetic | archive.")
    symbols: str | None = Field(None, max_length=20_000, description="--symbols: comma-separated tickers.")
    universe: Literal["nasdaq100", "extended"] | None = Field(None, description="--universe when symbols is absent.")
    sector: str | None = Field(None, max_length=100, description="--sector: one GICS sector of the universe.")
    stocks: int | None = Field(None, ge=1, le=10_000, description="--stocks: first N symbols (default 50 for synthetic).")
    bars: int = Field(2520, ge=30, le=50_000, description="--bars: synthetic bars per stock.")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="--seed: synthetic random seed.")
    start: IsoDate | None = Field(None, description="--start (YYYY-MM-DD).")
    end: IsoDate | None = Field(None, description="--end (YYYY-MM-DD).")
    strategy: Literal["adaptive", "fixed"] = Field("adaptive", description="--strategy.")
    rsi_period: int = Field(14, ge=2, le=200, description="--rsi-period (adaptive: 10..21).")
    buy: float = Field(30.0, gt=0, lt=100, description="--buy: buy below this RSI.")
    sell: float = Field(70.0, gt=0, lt=100, description="--sell: sell above this RSI.")
    fill: Literal["next_open", "close"] | None = Field(None, description="--fill.")
    commission_bps: float | None = Field(None, description="--commission-bps per side.")
    slippage_bps: float | None = Field(None, description="--slippage-bps per side.")
    whole_shares: bool = Field(False, description="--whole-shares.")
    prices: Literal["adjusted", "raw"] | None = Field(None, description="--prices (archive).")
    policy: Literal["error", "drop", "ffill"] | None = Field(None, description="--policy (archive repair policy).")
    executor: Literal["auto", "serial", "processes"] | None = Field(None, description="--executor inside the job.")
    workers: int | None = Field(None, description="--workers inside the job.")
    mode: Literal["per-stock", "portfolio"] = Field("per-stock", description="--mode: per-stock | portfolio (one account, risk limits from the settings).")


class JobState(BaseModel):
    id: str = Field(..., description="Job id.")
    state: Literal["queued", "running", "done", "failed", "cancelled"] = Field(..., description="Where the job is.")
    done: int = Field(..., description="Stocks finished (portfolio mode, where all stocks step together: "
                                        "the stocks times the share of bars stepped).")
    total: int | None = Field(None, description="Stocks in the job (known once its data is loaded).")
    progress: float = Field(..., description="done / total, 0..1.")
    run_id: str | None = Field(None, description="Run id in the store once done.")
    error: str | None = Field(None, description="Why it failed.")
    created: float = Field(..., description="Unix time the job was accepted.")
    started: float | None = Field(None, description="Unix time it started running.")
    finished: float | None = Field(None, description="Unix time it ended.")
    request: dict[str, Any] = Field(..., description="The accepted request body.")
