"""The body of a backtest job, the same wherever it runs (a job process, or a task on Dask): the request
built from a POST /backtests body with the same fields and checks as `adaptrade backtest` (the api layer
sits below commands, so it cannot call the command's helpers: the settings fields are validated by
`adaptrade.settings.Settings`, the strategy fields by `StrategyConfig`), and the run with its messages."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from adaptrade.errors import AdaptradeError, ConfigError
from adaptrade.settings import Settings


def build_request(body: dict[str, Any], settings: Settings) -> tuple[Any, Settings]:
    """(RunRequest, job settings) from a POST /backtests body; ConfigError on a bad value (-> 422)."""
    from pydantic import ValidationError

    from adaptrade.parallel.runner import RunRequest
    from adaptrade.strategy.params import StrategyConfig

    overrides = {k: v for k, v in {
        "fill": body.get("fill"), "commission_bps": body.get("commission_bps"), "slippage_bps": body.get("slippage_bps"),
        "price_basis": body.get("prices"), "repair_policy": body.get("policy"), "executor": body.get("executor"),
        "workers": body.get("workers"),
    }.items() if v is not None}
    if body.get("whole_shares"):
        overrides["whole_shares"] = True
    try:
        job_settings = Settings(**{**dict(settings), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        flag = {"price_basis": "prices", "repair_policy": "policy"}.get(name, name)
        raise ConfigError(f"{err.get('msg', 'invalid value')} (got {err.get('input')!r})", field=flag) from None
    s = job_settings
    if body.get("mode") == "portfolio" and s.fill == "close":
        raise ConfigError("portfolio mode fills orders from the next bar on; fill 'close' is per-stock only", field="fill")
    cfg = StrategyConfig(kind=body.get("strategy", "adaptive"), rsi_period=body.get("rsi_period", 14), buy=body.get("buy", 30.0),
                         sell=body.get("sell", 70.0), fill=s.fill, commission_bps=s.commission_bps, slippage_bps=s.slippage_bps,
                         whole_shares=s.whole_shares, initial_cash=s.initial_cash, learning_alpha=s.learning_alpha,
                         min_trades_to_adapt=s.min_trades_to_adapt, threshold_step=s.threshold_step)
    source = body.get("source", "synthetic")
    symbols = tuple(x.strip().upper() for x in (body.get("symbols") or "").split(",") if x.strip())
    stocks = body.get("stocks")
    if stocks is None and not symbols and source == "synthetic":
        stocks = 50
    req = RunRequest(source=source, symbols=symbols, universe=None if symbols else (body.get("universe") or "nasdaq100"),
                     stocks=stocks, bars=body.get("bars", 2520), seed=body.get("seed", 42), start=body.get("start"),
                     end=body.get("end"), data_dir=None, strategy=cfg)
    return req, job_settings


def run_portfolio(req: Any, settings: Settings, loaded: Any, progress: Callable[[int, int], None] | None = None,
                  checkpoint: Callable[..., None] | None = None) -> Any:
    """A portfolio-mode run of loaded data (one account, risk limits from settings), as `adaptrade backtest
    --mode portfolio` does it; Kelly sizing learns from paper trades on the run's own data (no warm-up source)."""
    from adaptrade.parallel import runner
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.results import build_portfolio_result
    from adaptrade.risk.limits import RiskLimits

    limits = RiskLimits.from_settings(settings).with_(initial_cash=req.strategy.initial_cash)
    out = run_portfolio_backtest(loaded.bars, req.strategy, limits, states=None, sizes=None, progress=progress,
                                 checkpoint=checkpoint)
    info = runner.run_settings(req, settings, loaded)
    info.update(mode="portfolio", risk=limits.describe(), complete=True, failed_symbols=[],
                kelly_warmup_source="paper trades on the run's own data")
    return build_portfolio_result(out, loaded.benchmark_close, loaded.benchmark_symbol, risk_free_rate=settings.risk_free_rate,
                                  min_sharpe=settings.min_sharpe, min_win_rate=settings.min_win_rate,
                                  min_trades=settings.min_trades_rank, settings=info)


def run_job(req: Any, settings: Settings, sector: str | None, mode: str, send: Callable[[tuple[Any, ...]], None],
            fn: Any = None, on_quality: Callable[[Any], None] | None = None) -> tuple[Any, dict[str, Any], float]:
    """Load and run one job, sending ("progress", done, total) and ("events", [(kind, data)]) messages as it goes;
    returns (result, summary document, seconds): a BacktestResult, or a PortfolioResult in portfolio mode.
    `fn`: the batch function of per-stock runs (None: the runner's own); `on_quality(report)`: the data-quality
    report of an archive load (data.validate.QualityReport), for /metrics."""
    from dataclasses import replace

    from adaptrade.parallel import runner
    from adaptrade.reports.files import summary

    if sector:
        from adaptrade.universe.universe import NasdaqUniverse

        root, _ = runner.resolve_data_dir(runner.RunRequest(source="archive"), settings)
        chosen = NasdaqUniverse(root).select(req.universe or "nasdaq100", sector, None, with_data=req.source == "archive")
        req = replace(req, symbols=tuple(chosen), universe=None)
    from adaptrade.api.job_events import JobEvents

    t0 = time.perf_counter()
    loaded = runner.load_data(req, settings)
    if on_quality is not None and loaded.quality is not None:  # archive data: what the load found and repaired
        on_quality(loaded.quality)
    n = loaded.bars.n_symbols
    send(("progress", 0, n))
    if mode == "portfolio":  # one account, all stocks step together: progress is the share of bars stepped, in stocks
        from adaptrade.api.job_events import PortfolioJobEvents

        live = PortfolioJobEvents(loaded.bars.symbols, loaded.bars.dates, req.strategy.initial_cash)
        # at each checkpoint the fills, parameter changes and account since the last one, then the progress
        payload = run_portfolio(req, settings, loaded, progress=lambda t, T: send(("progress", n * int(t) // max(int(T), 1), n)),
                                checkpoint=lambda t, bufs, counts, curves: send(("events", live.checkpoint(t, bufs, counts, curves))))
        doc = summary(payload.result)
        doc["aggregate"] = payload.aggregate()  # the account's figures, as `adaptrade backtest --mode portfolio`
        doc["portfolio"] = payload.account_summary()
        send(("progress", n, n))
        return payload, doc, time.perf_counter() - t0
    events = JobEvents(loaded.bars.dates, req.strategy.initial_cash)

    def on_batch(o: Any, done: int) -> None:  # the batch's fills, parameter changes and equity, before its progress
        if o.ok and o.result is not None:
            send(("events", events.batch(o.symbols, o.result, done)))

    extra = {} if fn is None else {"fn": fn}
    payload, _ = runner.run(req, settings, progress=lambda done: send(("progress", int(done), n)), data=loaded,
                            on_batch=on_batch, **extra)
    return payload, summary(payload), time.perf_counter() - t0


def failure(exc: BaseException) -> str:
    """A job's error text: an AdaptradeError's one-line description, else the exception's type and message."""
    return exc.describe() if isinstance(exc, AdaptradeError) else f"{type(exc).__name__}: {exc}"
