"""`adaptrade paper run|status|stop`: paper trading per stock on the replay feed and the simulated
broker, per stock or in portfolio mode (docs/paper.md), or per stock through the Alpaca adapter
(live/alpaca_broker.py) and on Alpaca's market-data feed (live/alpaca_feed.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from adaptrade.commands.common import console, handle_errors

app = typer.Typer(no_args_is_help=True, help="Paper trading: the backtested strategy, session by session, through a broker.")


def _folder(session: str, paper_dir: Path) -> Path:
    from adaptrade.live.session_view import session_folder

    return session_folder(session, paper_dir)


def _from_run(run_id: str, settings: object) -> str:
    """The recommended stocks of a stored backtest run, comma-separated."""
    from adaptrade.errors import ConfigError
    from adaptrade.storage.runs import RunStore

    from adaptrade.storage.backend import store_target

    with RunStore(store_target(settings), read_only=True) as rs:
        stocks = rs.load_run(run_id).get("stocks")
    if stocks is None:
        raise ConfigError(f"run {run_id} ranks no stocks (a paper session or an unfinished run)", field="from_run")
    chosen = stocks.loc[stocks["recommended"].astype(bool), "symbol"].astype(str).tolist()
    if not chosen:
        raise ConfigError(f"run {run_id} recommends no stock", field="from_run")
    return ",".join(chosen)


@app.command("run")
@handle_errors
def run(
    broker: str = typer.Option("sim", "--broker", help="sim (the execution layer's simulated broker) | alpaca (alpaca-py, ADAPTRADE_ALPACA_*)."),
    feed: str = typer.Option("replay", "--feed", help="replay (archived or synthetic daily bars) | alpaca (Alpaca's historical bars, then its market-data stream)."),
    symbols: str | None = typer.Option(None, "--symbols", help="Comma-separated symbols, e.g. AAPL,MSFT."),
    from_run: str | None = typer.Option(None, "--from-run", help="Trade the recommended stocks of this stored run."),
    mode: str = typer.Option("per-stock", "--mode", help="per-stock (each stock all-in on its own account) | portfolio (one account: execution, risk rules, breaker)."),
    start: str | None = typer.Option(None, "--start", help="First session (YYYY-MM-DD)."),
    end: str | None = typer.Option(None, "--end", help="Last session (YYYY-MM-DD)."),
    speed: float = typer.Option(0.0, "--speed", help="Sessions per second (0 = as fast as possible)."),
    out: Path | None = typer.Option(None, "--out", help="Write trades.csv, params.csv, orders.csv, fills.csv here."),
    session: str = typer.Option("default", "--session", help="Session name: its state, broker book and lease live under the paper folder."),
    source: str = typer.Option("archive", "--source", help="Bars to replay: archive | synthetic."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Archive folder (default: ADAPTRADE_DATA_DIR, ../shared/data, else the shipped sample)."),
    bars: int = typer.Option(2520, "--bars", help="Synthetic: bars per stock."),
    seed: int = typer.Option(42, "--seed", help="Synthetic: random seed."),
    strategy: str = typer.Option("adaptive", "--strategy", help="adaptive | fixed"),
    rsi_period: int = typer.Option(14, "--rsi-period", help="RSI period (start value when adaptive)."),
    buy: float = typer.Option(30.0, "--buy", help="Buy when RSI is below this."),
    sell: float = typer.Option(70.0, "--sell", help="Sell when RSI is above this."),
    commission_bps: float | None = typer.Option(None, "--commission-bps", help="Commission per side, basis points (default 1)."),
    slippage_bps: float | None = typer.Option(None, "--slippage-bps", help="Slippage per side, basis points (default 5)."),
    prices: str | None = typer.Option(None, "--prices", help="Archive: adjusted (default) | raw."),
    policy: str | None = typer.Option(None, "--policy", help="Archive repair policy: error | drop | ffill."),
    paper_dir: Path | None = typer.Option(None, "--paper-dir", help="Folder of paper sessions (default ADAPTRADE_PAPER_DIR)."),
    db: str | None = typer.Option(None, "--db", help="Run store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default ./adaptrade.duckdb, "
                                  "or ADAPTRADE_DB_URL). The session is run paper-SESSION: its trades, params, orders and fills "
                                  "rewritten at every journal compaction (ADAPTRADE_PAPER_COMPACT_EVERY sessions) and at the end."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not record the session in the run store."),
) -> None:
    """Replay bars session by session through the strategy and the broker; restartable after a crash.

    The session is recorded in the run store as run paper-SESSION (mode paper; per-stock and portfolio): running while it
    plays, complete at the end, interrupted if its process died; a restart rewrites the same run."""
    from adaptrade.commands.backtest import _request
    from adaptrade.errors import ConfigError
    from adaptrade.live.broker import SimBroker
    from adaptrade.live.feeds import ReplayFeed
    from adaptrade.live.lease import with_cluster_lease
    from adaptrade.live.loop import PaperLoop, killed
    from adaptrade.live.outputs import write_paper_outputs
    from adaptrade.live.state import Lease
    from adaptrade.parallel.runner import load_data
    from adaptrade.settings import load_settings

    from adaptrade.storage.backend import db_overrides, display, store_target

    settings = load_settings(**db_overrides(db), price_basis=prices, repair_policy=policy, paper_dir=paper_dir)
    if mode not in ("per-stock", "portfolio"):
        raise ConfigError(f"unknown mode '{mode}' (per-stock|portfolio)", field="mode")
    if feed not in ("replay", "alpaca"):
        raise ConfigError(f"--feed {feed} is not a feed: replay or alpaca", field="feed")
    if feed == "alpaca" and mode == "portfolio":
        raise ConfigError("--mode portfolio replays a fixed period: it runs only with --feed replay (docs/paper.md)", field="feed")
    if broker not in ("sim", "alpaca"):
        raise ConfigError(f"--broker {broker} is not a broker: sim or alpaca", field="broker")
    if broker == "alpaca" and mode == "portfolio":
        raise ConfigError("--mode portfolio runs only with --broker sim: its book lives in the compiled account (docs/paper.md)",
                          field="broker")
    if broker == "alpaca" and feed == "replay" and not settings.alpaca_replay_clock_url:
        raise ConfigError("--broker alpaca --feed replay would fill historical bars at today's prices: it runs only against "
                          "the stand-in's replay clock (ADAPTRADE_ALPACA_REPLAY_CLOCK_URL); use --feed alpaca",
                          field="feed")
    if speed < 0:
        raise ConfigError("--speed must be >= 0", field="speed")
    if bool(symbols) == bool(from_run):
        raise ConfigError("give exactly one of --symbols and --from-run", field="symbols")
    if from_run:
        symbols = _from_run(from_run, settings)
    req = _request(source, data_dir, symbols, None, None, bars, seed, start, end, strategy, rsi_period, buy, sell,
                   None, commission_bps, slippage_bps, False, settings)
    folder = _folder(session, settings.paper_dir)
    folder.mkdir(parents=True, exist_ok=True)
    lease = with_cluster_lease(Lease(folder), settings)  # ADAPTRADE_PAPER_KUBE_LEASE: one trader per cluster
    lease.acquire(session)
    from adaptrade.live.session_setup import SessionParts, alpaca_feed, session_hooks

    parts = SessionParts()
    recorder = None
    bus = None
    if settings.paper_publish:  # fills, parameter changes, alerts on the Redis stream (api/events.py)
        from adaptrade.api.events import EventBus

        bus = parts.bus = EventBus(settings.redis_url, settings.redis_prefix, settings.redis_stream_maxlen)
    try:
        cfg = req.strategy
        if feed == "alpaca":
            live_feed: Any = alpaca_feed(parts, settings, req.symbols, start, end)
            meta_bars = {"symbols": list(req.symbols), "start": live_feed.start, "end": end or "open", "source": "alpaca"}
        else:
            loaded = load_data(req, settings)
            live_feed = None
            meta_bars = {"symbols": list(loaded.bars.symbols), "start": str(loaded.bars.dates[0]),
                         "end": str(loaded.bars.dates[-1]), "source": source}
        meta = {**meta_bars, "strategy": cfg.kind, "rsi_period": cfg.rsi_period, "buy": cfg.buy, "sell": cfg.sell,
                "commission_bps": cfg.commission_bps, "slippage_bps": cfg.slippage_bps, "initial_cash": cfg.initial_cash,
                "price_basis": settings.price_basis, "broker": broker}
        if mode == "portfolio":
            from adaptrade.live.portfolio_loop import portfolio_frames, run_portfolio_session
            from adaptrade.live.session_store import SessionRecorder, run_info

            def record(lp: Any) -> SessionRecorder:
                nonlocal recorder
                recorder = SessionRecorder(store_target(settings), settings, session, run_info(meta, session, folder, feed, mode),
                                           console, tables=lambda x: portfolio_frames(x, loaded, settings))
                return recorder

            run_portfolio_session(folder, loaded, cfg, settings, {**meta, "mode": "portfolio"}, speed, out, session, console, lease,
                                  attach=lambda lp: session_hooks(parts, settings, session, lp, lease, folder, bus),
                                  recorder=None if no_store else record)
            if recorder is not None:
                console.print(f"stored as run {recorder.run_id} in {display(recorder.target)}")
            return
        if broker == "alpaca":
            from adaptrade.live.alpaca_broker import AlpacaBroker

            sim = AlpacaBroker(folder, settings)
        else:
            sim = SimBroker(folder, cfg.initial_cash * len(meta["symbols"]), cfg.commission_bps, cfg.slippage_bps,
                            cfg.whole_shares, fsync=settings.paper_fsync)
        loop = PaperLoop(folder, live_feed or ReplayFeed(loaded.bars, speed, str(settings.cache_dir)), cfg, sim, meta,
                         settings.paper_event_delay, settings.paper_fsync, settings.paper_compact_every)
        if live_feed is not None and broker == "alpaca" and not settings.alpaca_replay_clock_url \
                and loop.doc["cursor"] < live_feed.live_from:
            raise ConfigError(f"--broker alpaca cannot fill the {live_feed.live_from - loop.doc['cursor']} sessions before "
                              f"{live_feed.sessions[live_feed.live_from]} that --start {start} catches up: start at the last "
                              "closed session or later, or use --broker sim", field="start")
        session_hooks(parts, settings, session, loop, lease, folder, bus)
        if not no_store and loop.doc["status"] != "killed" and not killed(folder):  # a killed session refuses below
            from adaptrade.live.session_store import SessionRecorder, run_info

            recorder = loop.recorder = SessionRecorder(store_target(settings), settings, session,
                                                       run_info(meta, session, folder, feed, mode), console)
        console.print(f"paper session '{session}': {len(meta['symbols'])} stocks, {meta['start']}..{meta['end']}, "
                      f"broker {broker}, costs {cfg.commission_bps:g} bps commission + {cfg.slippage_bps:g} bps slippage per side")
        t0 = time.perf_counter()
        status = loop.run(lease)
        console.print(f"session {status} after {time.perf_counter() - t0:.2f}s; positions: {sim.positions() or 'none'}")
        if out is not None:
            write_paper_outputs(loop, out)
            console.print(f"wrote {out}/ (trades.csv, params.csv, orders.csv, fills.csv)")
        if recorder is not None:
            console.print(f"stored as run {recorder.run_id} in {display(recorder.target)}")
    except BaseException as exc:
        if recorder is not None:
            recorder.fail(exc)
        raise
    finally:
        if "sim" in locals() and hasattr(sim, "close"):
            sim.close()  # the alpaca broker's trade-update stream
        parts.close()  # the alpaca feed's stream, the session's /metrics server, the Redis connection
        lease.release()


@app.command("status")
@handle_errors
def status(
    session: str = typer.Option("default", "--session", help="Session name."),
    paper_dir: Path | None = typer.Option(None, "--paper-dir", help="Folder of paper sessions (default ADAPTRADE_PAPER_DIR)."),
) -> None:
    """Where a session stands: running or not, last session date, positions, open orders, kill switch."""
    from adaptrade.live.session_view import session_view
    from adaptrade.settings import load_settings

    v = session_view(session, load_settings(paper_dir=paper_dir).paper_dir)
    sessions = v["meta"]
    console.print(f"session '{session}': {'running (pid ' + str(v['pid']) + ')' if v['running'] else 'not running'}, "
                  f"status {v['status']}, kill switch {'ON' if v['killed'] else 'off'}")
    console.print(f"  stocks {','.join(sessions['symbols'])}, replay {sessions['start']}..{sessions['end']}, "
                  f"next session index {v['cursor']}, last heartbeat {v['heartbeat_date'] or '-'}")
    console.print(f"  cash {v['cash']:.2f}; positions: {v['positions'] or 'none'}")
    opened = [o["client_order_id"] for o in v["open_orders"]]
    console.print(f"  open orders: {', '.join(opened) or 'none'}")


@app.command("stop")
@handle_errors
def stop(
    session: str = typer.Option("default", "--session", help="Session name."),
    paper_dir: Path | None = typer.Option(None, "--paper-dir", help="Folder of paper sessions (default ADAPTRADE_PAPER_DIR)."),
) -> None:
    """The kill switch: cancel the session's open orders at the broker; the loop sends no new ones and stops."""
    from adaptrade.live.session_view import kill_session
    from adaptrade.settings import load_settings

    n = kill_session(session, load_settings(paper_dir=paper_dir))
    console.print(f"kill switch on for session '{session}': {n} open orders cancelled, no new orders")
