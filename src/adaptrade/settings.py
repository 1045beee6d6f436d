"""One typed, validated settings object.

Sources, strongest first: command-line flags, `ADAPTRADE_*` environment variables, a TOML file
(`./adaptrade.toml`, or the file named by `ADAPTRADE_CONFIG`), then the defaults below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

RepairPolicy = Literal["error", "drop", "ffill"]
FillMode = Literal["next_open", "close"]
PriceBasis = Literal["adjusted", "raw"]



def _project_root() -> Path | None:
    """The source checkout holding this package (pyproject.toml two levels above src/adaptrade), if any."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


_ROOT = _project_root()
# Defaults found from the project, not from the current directory: `../shared/data` beside the
# checkout and `.adaptrade_cache` inside it (an installed package: ~/.cache/adaptrade/data).
DEFAULT_DATA_DIR = (_ROOT.parent / "shared" / "data") if _ROOT else Path("../shared/data").resolve()
DEFAULT_CACHE_DIR = (_ROOT / ".adaptrade_cache") if _ROOT else Path.home() / ".cache" / "adaptrade" / "data"

# Last session of the shipped and shared data: the default end of synthetic and archive runs.
DATA_END = "2024-03-08"


class Settings(BaseSettings):
    """Every tunable of adaptrade in one frozen object, passed down explicitly."""

    model_config = SettingsConfigDict(env_prefix="ADAPTRADE_", frozen=True, extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags, then the environment, then the TOML file (unknown keys in it are refused)."""
        import os

        toml = Path(os.environ.get("ADAPTRADE_CONFIG", "adaptrade.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml))

    # data
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Root of the real data (read-only); set explicitly, it must exist.")
    cache_dir: Path = Field(DEFAULT_CACHE_DIR, description="Converted Parquet cache.")
    repair_policy: RepairPolicy = Field(
        "drop", description="What to do with recoverable defects (missing sessions, zero volume, NaN rows, jumps)."
    )
    jump_threshold: float = Field(3.0, gt=1.0, description="Close-to-close ratio flagged as split-like jump.")
    price_basis: PriceBasis = Field(
        "adjusted", description="adjusted: trade total-return OHLC, compare with SPY; raw: traded prices vs ^GSPC."
    )
    data_end: str = Field(DATA_END, description="Default last date of a run (synthetic data ends here; archive windows too).")
    # store
    db_path: Path = Field(Path("adaptrade.duckdb"), description="DuckDB file that keeps every run.")
    db_url: str | None = Field(None, description="postgresql://USER@HOST:PORT/DB: keep runs in PostgreSQL instead (wins over db_path).")
    store_lock_timeout: float = Field(30.0, ge=0, le=3600, description="Seconds to wait for another process's DuckDB lock.")
    heartbeat_seconds: float = Field(5.0, gt=0, le=600, description="How often a running run refreshes its heartbeat.")
    stale_after: float = Field(60.0, gt=0, description="Seconds without a heartbeat after which a running run shows as interrupted.")
    tax_short_rate: float = Field(0.37, ge=0, le=1, description="Tax rate on short-term gains (analytics tax; illustrative, not advice).")
    tax_long_rate: float = Field(0.20, ge=0, le=1, description="Tax rate on long-term gains (analytics tax; illustrative, not advice).")
    report_analytics_max_trades: int = Field(
        5000, ge=0, description="report.html carries the analytics sections (returns, attribution, tax, drawdowns) for runs up to this "
        "many closed trades; above, they are left out with a note (their tax lots cost seconds): run `adaptrade analytics`.")
    # paper trading (docs/paper.md)
    paper_dir: Path = Field(Path(".adaptrade_paper"), description="Folder of paper sessions (state, broker book, lease).")
    paper_event_delay: float = Field(0.0, ge=0, le=10, description="Seconds to pause after every persisted paper event (crash-recovery tests).")
    paper_fsync: bool = Field(True, description="fdatasync the paper journals once per bar batch (survives a power cut; a kill needs none).")
    paper_compact_every: int = Field(64, ge=1, description="Paper sessions between compactions of the journals into snapshots (bounds the restart's replay).")
    # the Alpaca adapter (live/alpaca_broker.py, README "Alpaca paper account"); empty URL = Alpaca's paper endpoint
    alpaca_key_id: SecretStr | None = Field(None, description="Alpaca API key id (paper account; never logged).")
    alpaca_secret_key: SecretStr | None = Field(None, description="Alpaca API secret key (never logged).")
    alpaca_trading_url: str = Field("", description="Trading REST base URL; empty = Alpaca's paper endpoint.")
    alpaca_stream_url: str = Field("", description="Trade-update websocket URL; empty = Alpaca's paper stream.")
    alpaca_data_url: str = Field("", description="Market-data REST base URL (historical bars); empty = Alpaca's data endpoint.")
    alpaca_replay_clock_url: str = Field("", description="Stand-in only: URL the replay feed POSTs each session's date to, so the stand-in fills at that open.")
    alpaca_fill_timeout: float = Field(10.0, gt=0, le=3600, description="Seconds on_open waits for due orders to end (filled, cancelled, rejected).")
    paper_kube_lease: str | None = Field(None, description="On Kubernetes: the coordination.k8s.io Lease a paper trader must hold to trade (live/lease.py); unset = none.")
    paper_lease_seconds: int = Field(30, ge=3, le=600, description="Duration of that Lease; it is renewed every third of it.")
    # the alpaca feed, market-hours guard and paper monitoring (docs/paper.md "Live feed")
    alpaca_data_stream_url: str = Field("", description="Market-data websocket URL (StockDataStream url_override); empty = Alpaca's IEX stream.")
    alpaca_data_feed: str = Field("iex", pattern="^(iex|sip)$", description="Alpaca market-data feed of the alpaca feed: iex | sip.")
    alpaca_bar_settle_seconds: float = Field(300.0, ge=0, le=86400, description="Seconds after a session's close before its daily bars count as final.")
    paper_metrics_port: int = Field(0, ge=0, le=65535, description="Port of a paper session's own /metrics (0 = not served).")
    paper_metrics_host: str = Field("127.0.0.1", description="Address the paper session's /metrics binds.")
    paper_feed_quiet_minutes: float = Field(30.0, gt=0, description="Minutes a due session's bars may be late before AdaptradePaperFeedQuiet fires.")
    paper_publish: bool = Field(True, description="Publish a paper session's fills, parameter changes and alerts on the Redis stream.")
    # backtest
    initial_cash: float = Field(100_000.0, gt=0)
    commission_bps: float = Field(1.0, ge=0, le=1000)
    slippage_bps: float = Field(5.0, ge=0, le=1000)
    fill: FillMode = "next_open"
    whole_shares: bool = False
    risk_free_rate: float = Field(0.0, ge=-0.1, le=1.0, description="Annual, for Sharpe.")
    # quality filter ("recommended for live trading")
    min_sharpe: float = 2.0
    min_win_rate: float = Field(0.85, ge=0, le=1)
    min_trades_rank: int = Field(10, ge=0, description="Closed trades a stock needs to be ranked among the others, "
                                 "recommended or featured; fewer: ranked after all others.")
    # online learning
    learning_alpha: float = Field(0.2, gt=0, le=1, description="EMA factor of OnlineLearningStats.")
    min_trades_to_adapt: int = Field(5, ge=1)
    threshold_step: float = Field(1.0, gt=0, le=5)

    # executors and batching (docs/performance.md "Executors", docs/scaling.md)
    memory_limit_gb: float | None = Field(
        None, gt=0, description="Refuse runs whose estimated memory exceeds this (default: 80% of the memory available now)."
    )
    batch_size: int = Field(50, ge=1, le=10_000, description="Stocks per batch handed to a worker.")
    executor: Literal["auto", "serial", "threads", "processes", "dask"] = Field(
        "auto", description="auto: dask with a scheduler, else threads (numba kernels release the GIL; batches share the bars)."
    )
    workers: int | None = Field(None, ge=1, description="Worker threads or processes (default: one per core).")
    scheduler: str | None = Field(None, description="Dask scheduler address tcp://HOST:PORT (implies dask; `serve`: jobs run "
                                  "as tasks on that cluster).")
    # universe: liquidity filter and quality score (docs/universe.md)
    liquidity_window: int = Field(20, ge=1, le=2520, description="Sessions of average daily volume before the start.")
    min_volume: float = Field(1_000_000.0, ge=0, description="Minimum average daily volume (shares).")
    cycle_min_dollar_volume: float = Field(
        20_000_000.0, ge=0, description="cycle's default liquidity filter: average close x volume (dollars), split-invariant."
    )
    score_weights: tuple[float, float, float] = Field(
        (0.5, 0.3, 0.2), description="Quality score weights of sharpe, win rate, outperformance."
    )
    cycle_select: int = Field(20, ge=1, description="Cycle rule: trade the top N stocks by latest score.")
    # portfolio mode: risk and execution (docs/risk.md, docs/execution.md)
    kelly_fraction: float = Field(0.25, ge=0, le=1, description="Fraction of full Kelly per entry; 0 = size at max_position.")
    kelly_min_trades: int = Field(5, ge=0, description="Closed trades (real or paper) before Kelly sizes anything.")
    kelly_warmup_from: str | None = Field(None, description="Where Kelly's first statistics come from (portfolio mode): "
                                             "unset = paper trades on the run's own data; 'START..END' = the online statistics "
                                             "learned on that earlier period; a stored run id = that run's period.")
    max_position: float = Field(0.10, gt=0, le=1, description="Per-stock position cap, share of equity.")
    max_gross: float = Field(1.0, gt=0, le=1, description="Gross exposure cap, share of equity.")
    stop_loss_pct: float = Field(0.10, ge=0, lt=1, description="Fixed stop below entry (0 = off).")
    stop_loss_vol_k: float = Field(3.0, ge=0, description="Volatility stop: k x daily vol below entry (0 = off).")
    max_drawdown: float = Field(0.20, gt=0, description="Drawdown that trips the circuit breaker.")
    breaker_cooldown: int = Field(20, ge=1, description="Bars the breaker stays on before it resets.")
    corr_limit: float = Field(0.7, gt=-1, description="Average correlation with the book above which entries shrink (> 1 = off).")
    corr_window: int = Field(60, ge=5, description="Bars of returns in the rolling correlation.")
    corr_refuse: bool = Field(False, description="Refuse correlated entries instead of scaling them down.")
    participation: float = Field(0.10, gt=0, description="Max share of a bar's volume one order takes.")
    impact_k: float = Field(0.1, ge=0, description="Square-root impact coefficient.")
    max_order_bars: int = Field(5, ge=1, description="Bars a market/GTC order works before the rest is cancelled.")
    limit_above_bps: float = Field(25.0, ge=0, description="Entries costing more than this to cross go as limit orders.")
    # research: walk-forward and overfitting statistics (docs/research.md)
    wf_in_sample_bars: int = Field(756, ge=60, description="Walk-forward in-sample window (bars).")
    wf_out_of_sample_bars: int = Field(252, ge=20, description="Walk-forward out-of-sample window and step (bars).")
    wf_mode: Literal["carry", "frozen", "reset"] = Field(
        "carry", description="What out-of-sample starts from: learned state carried, learned parameters frozen, or fresh."
    )
    bootstrap_samples: int = Field(1000, ge=100, le=100_000, description="Bootstrap resamples for confidence intervals.")
    # monitoring and alerting (docs/monitoring.md)
    alert_drawdown_limit: float = Field(
        0.15, gt=0, lt=1, description="Drawdown (share of peak equity) past which DrawdownPastLimit pages; exported as a gauge."
    )
    alert_no_data_minutes: float = Field(30.0, gt=0, description="Minutes without processed bars before NoData fires.")
    metrics_max_runs: int = Field(50, ge=1, description="Runs whose per-run gauges /metrics keeps (oldest dropped).")
    pagerduty_routing_key: SecretStr | None = Field(None, description="PagerDuty Events API v2 routing key (never logged).")
    pagerduty_routing_key_file: Path | None = Field(None, description="File holding the routing key (instead of the key itself).")
    pagerduty_url: str = Field("https://events.pagerduty.com/v2/enqueue", description="Events API v2 endpoint.")
    pagerduty_source: str = Field("adaptrade", min_length=1, description="payload.source of direct pages.")
    pagerduty_timeout: float = Field(10.0, gt=0, description="Seconds per request to the Events API.")
    pagerduty_max_attempts: int = Field(5, ge=1, le=20, description="Tries per event (timeouts, 5xx, 429) before giving up.")
    pagerduty_direct: bool = Field(False, description="adaptrade serve pages its own alerts (job failed, drawdown past limit, breaker) through the direct notifier; for use without Alertmanager.")
    # the service: adaptrade serve (docs/service.md)
    api_token: SecretStr | None = Field(None, description="Bearer token of endpoints that start or cancel work (never logged).")
    api_read_protected: bool = Field(False, description="Read endpoints need the token too.")
    api_cors_origins: tuple[str, ...] = Field((), description="Origins allowed by CORS (empty: CORS off).")
    api_max_body_bytes: int = Field(65_536, ge=1024, description="Largest request body accepted (413 above).")
    api_job_starts_per_minute: int = Field(10, ge=1, description="Backtest starts per client per minute (429 above).")
    api_job_workers: int = Field(2, ge=1, le=64, description="Backtest jobs running at once, each in its own process.")
    api_store_read_connections: int = Field(4, ge=1, le=64, description="Read connections of the service's store pool (besides its writer).")
    api_page_cache_entries: int = Field(512, ge=0, le=100_000, description="Pages of finished runs' tables kept encoded in memory (LRU, at most 64 MB); 0: off.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Event bus (Redis Streams) and latest-state cache.")
    redis_prefix: str = Field("adaptrade", min_length=1, description="Key prefix of the service's Redis streams and cache.")
    redis_stream_maxlen: int = Field(10_000, ge=10, description="Events the stream keeps (older ones trimmed).")
    redis_check_seconds: float = Field(5.0, ge=0, le=3600, description="How often the service checks Redis (0: only /ready "
                                       "does); when it answers again, or without the cache (restarted empty), the cache is rebuilt.")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags) on top."""
    import os
    import tomllib

    from pydantic import ValidationError

    from adaptrade.errors import ConfigError

    unknown = sorted(k for k in os.environ if k.startswith("ADAPTRADE_") and k != "ADAPTRADE_CONFIG"
                     and k[10:].lower() not in Settings.model_fields)
    if unknown:  # a misspelt variable would otherwise be ignored without a word
        raise ConfigError(f"unknown setting {', '.join(unknown)} (known: see adaptrade/settings.py or README)", field=unknown[0])
    toml = Path(os.environ.get("ADAPTRADE_CONFIG", "adaptrade.toml"))
    if "ADAPTRADE_CONFIG" in os.environ and not toml.is_file():
        raise ConfigError("settings file not found", file=toml, field="ADAPTRADE_CONFIG")
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=toml) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        if name in clean:
            source = "flag or setting"
        elif f"ADAPTRADE_{name.upper()}" in os.environ:
            source = f"environment variable ADAPTRADE_{name.upper()}"
        else:
            source = f"setting in {toml}"
        raise ConfigError(f"invalid {source}: {err.get('msg', 'invalid value')} (got {err.get('input')!r})", field=name) from None
