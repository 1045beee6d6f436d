"""The one schema of every store (runs, quality scores, sweep trials) on both backends, and its
versioned migrations: each applied in one transaction on open, recorded in `schema_migrations`.

Tables declare their columns with logical types (backend.TYPES). A data table also has `run_id`
(or its owner's key), `_row` (saved order) and `extra` (JSON text of frame columns the schema does
not declare yet, so nothing is lost). A new result column becomes a real column by a migration
below (see version 4 for the stock columns of issue 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from adaptrade.errors import StoreError
from adaptrade.storage.backend import Backend, display

ROW, EXTRA = "_row", "extra"

RUNS = {"id": "text", "created": "text", "settings": "text", "summary": "text", "status": "text", "dtypes": "text"}
RUN_LIFECYCLE = {"kind": "text", "run_key": "text", "host": "text", "pid": "bigint", "heartbeat": "text",
                 "finished": "text", "message": "text"}
STOCKS = {"symbol": "text", "total_return": "double", "buy_hold_return": "double", "benchmark_return": "double",
          "outperformance": "double", "win_rate": "double", "sharpe": "double", "max_drawdown": "double", "trades": "bigint",
          "exposure": "double", "recommended": "bool", "excess_vs_buy_hold": "double", "start": "timestamp", "end": "timestamp"}
STOCKS_V4 = {"alpha": "double", "beta": "double", "annual_return": "double", "annual_volatility": "double", "sortino": "double"}
TRADES = {"symbol": "text", "entry_date": "timestamp", "entry_price": "double", "exit_date": "timestamp", "exit_price": "double",
          "shares": "double", "pnl": "double", "return": "double", "bars_held": "bigint"}
PARAMS = {"symbol": "text", "date": "timestamp", "parameter": "text", "old_value": "double", "new_value": "double", "reason": "text"}
EQUITY = {"symbol": "text", "date": "timestamp", "equity": "double"}
ACCOUNT = {"date": "text", "equity": "double", "cash": "double", "gross": "double", "drawdown": "double", "breaker": "bool"}
ORDERS = {"order_id": "text", "symbol": "text", "side": "text", "quantity": "double", "order_type": "text",
          "limit_price": "double", "created": "text", "status": "text", "time_in_force": "text", "notional": "double",
          "filled_quantity": "double", "avg_fill_price": "double", "reason": "text", "est_cost_bps": "double", "last_update": "text"}
FILLS = {"order_id": "text", "symbol": "text", "side": "text", "quantity": "double", "price": "double", "timestamp": "text",
         "commission": "double", "impact_bps": "double"}
ORDERS_V7 = {"filled_notional": "double"}  # was kept in `extra` as JSON text (rounded): a real column since version 7
CURVES = {"date": "timestamp", "strategy": "double", "buy_hold": "double", "benchmark": "double", "drawdown": "double",
          "benchmark_close": "double"}  # one row per bar (storage/curves.py): the curves the report draws, since version 8
HISTORY = {"order_id": "text", "timestamp": "text", "status": "text", "filled_quantity": "double"}
EVENTS = {"date": "text", "symbol": "text", "rule": "text", "before": "double", "after": "double"}
SCORES = {"run_id": "text", "cycle": "int", "scored_at": "text", "period_start": "text", "period_end": "text", "symbol": "text",
          "score": "double", "sharpe": "double", "win_rate": "double", "trades": "double", "total_return": "double",
          "outperformance": "double", "formula": "text"}
SCORES_V5 = {"source": "text"}  # scores kept per data source (synthetic never mixes with real)
SWEEPS = {"sweep_id": "text", "created": "text", "data_key": "text", "settings": "text", "summary": "text"}
SWEEPS_V3 = {"dtypes": "text"}
ALERTS = {"id": "text", "name": "text", "source": "text", "state": "text", "severity": "text", "summary": "text", "labels": "text",
          "run_id": "text", "job_id": "text", "started": "text", "ended": "text", "updated": "text"}
TRIALS = {"sweep_id": "text", "data_key": "text", "trial": "bigint", "config_key": "text", "excess_sharpe": "double", "error": "text"}

# frame name -> (table, declared columns at the current version)
RUN_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "stocks": ("run_stocks", STOCKS | STOCKS_V4), "trades": ("run_trades", TRADES), "params": ("run_params", PARAMS),
    "equity": ("run_equity", EQUITY), "account": ("run_account", ACCOUNT), "orders": ("run_orders", ORDERS | ORDERS_V7),
    "fills": ("run_fills", FILLS), "order_history": ("run_order_history", HISTORY), "risk_events": ("run_risk_events", EVENTS),
    "curves": ("run_curves", CURVES),
}
TRIAL_TABLE = ("sweep_trials", TRIALS)


@dataclass(frozen=True)
class Migration:
    """One schema step: its version, what it does, and how (a function of the backend)."""

    version: int
    description: str
    tables: tuple[tuple[str, dict[str, str], tuple[str, ...]], ...] = ()  # (table, columns, key columns) created or extended


def _data(table: str, cols: dict[str, str], owner: str = "run_id") -> tuple[str, dict[str, str], tuple[str, ...]]:
    return table, {owner: "text", ROW: "bigint", **cols, EXTRA: "text"}, (owner, ROW)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs with their stocks, trades and parameter changes",
              (("runs", RUNS, ("id",)), _data("run_stocks", STOCKS), _data("run_trades", TRADES), _data("run_params", PARAMS))),
    Migration(2, "portfolio tables: orders, fills, risk events",
              (_data("run_orders", ORDERS), _data("run_fills", FILLS), _data("run_risk_events", EVENTS))),
    Migration(3, "run lifecycle (running/complete/failed, host, pid, heartbeat, idempotent key); equity, account and order "
                 "history tables; quality scores and sweep trials in the same schema",
              (("runs", RUN_LIFECYCLE, ()),  # the tables of versions 1-2 were made from frames: declared columns added
               _data("run_stocks", STOCKS), _data("run_trades", TRADES), _data("run_params", PARAMS), _data("run_orders", ORDERS),
               _data("run_fills", FILLS), _data("run_risk_events", EVENTS), _data("run_equity", EQUITY), _data("run_account", ACCOUNT),
               _data("run_order_history", HISTORY), ("quality_scores", SCORES, ("run_id", "cycle", "symbol")),
               ("sweeps", SWEEPS | SWEEPS_V3, ("sweep_id",)), _data("sweep_trials", TRIALS, "sweep_id"))),
    Migration(4, "stock statistics columns: alpha, beta, annual_return, annual_volatility, sortino",
              (("run_stocks", STOCKS_V4, ()),)),
    Migration(5, "quality scores per data source: a source column (NULL: written before it existed)",
              (("quality_scores", SCORES_V5, ()),)),
    Migration(6, "alerts raised by the service or received from Alertmanager (one row per alert, its latest state)",
              (("alerts", ALERTS, ("id",)),)),
    Migration(7, "orders: a filled_notional column (exact doubles; older rows keep theirs in extra)",
              (("run_orders", ORDERS_V7, ()),)),
    Migration(8, "bar-by-bar curves of a run (average or account equity, buy-and-hold, benchmark, drawdown per date; "
                 "older runs have none)",
              (_data("run_curves", CURVES),)),
)
VERSION = MIGRATIONS[-1].version


def _apply(b: Backend, m: Migration) -> None:
    """Create each table of `m` if missing, else add its missing columns (old stores had frame-made tables)."""
    have_tables = b.tables()
    for table, cols, key in m.tables:
        if table not in have_tables:
            body = ", ".join(f'"{c}" {b.sql_type(t)}' for c, t in cols.items())
            pk = f", PRIMARY KEY ({', '.join(key)})" if key and table in ("runs", "quality_scores", "sweeps", "alerts") else ""
            b.execute(f'CREATE TABLE "{table}" ({body}{pk})')
        else:
            have = b.columns(table)
            for c, t in cols.items():
                if c not in have:
                    b.execute(f'ALTER TABLE "{table}" ADD COLUMN "{c}" {b.sql_type(t)}')
    if m.version == 3 and "sweep_trials" in have_tables:
        b.execute(f'UPDATE sweep_trials SET "{ROW}" = trial WHERE "{ROW}" IS NULL')


def current_version(b: Backend) -> int:
    """The schema version of the store (0: empty store)."""
    tables = b.tables()
    if "schema_version" not in tables:
        return 1 if "runs" in tables else 0  # before versioning the run store was version 1
    v = b.fetchall("SELECT max(version) FROM schema_version")[0][0]
    return int(v) if v is not None else 0


def pending(b: Backend) -> list[Migration]:
    """The migrations not yet applied to the store."""
    v = current_version(b)
    return [m for m in MIGRATIONS if m.version > v]


def check_not_newer(b: Backend) -> int:
    """The store's version; a StoreError when a newer adaptrade wrote it."""
    v = current_version(b)
    if v > VERSION:
        raise StoreError(f"store schema version {v} is newer than this adaptrade supports ({VERSION}); upgrade adaptrade",
                         file=display(b.target))
    return v


def migrate(b: Backend) -> list[Migration]:
    """Apply every pending migration, all in one transaction (PostgreSQL: under an advisory lock,
    so two processes opening a new database do not both migrate); returns what was applied."""
    check_not_newer(b)
    with b.transaction("cannot migrate the store"):
        if b.kind == "postgresql":
            b.execute("SELECT pg_advisory_xact_lock(7130013)")
        todo = pending(b)
        if not todo:
            return []
        tables = b.tables()
        if "schema_version" not in tables:
            b.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        if "schema_migrations" not in tables:
            b.execute(f"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description {b.sql_type('text')}, "
                      f"applied {b.sql_type('text')})")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for m in todo:
            _apply(b, m)
            b.execute("DELETE FROM schema_migrations WHERE version = ?", [m.version])
            b.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [m.version, m.description, now])
        b.execute("DELETE FROM schema_version")
        b.execute("INSERT INTO schema_version VALUES (?)", [VERSION])
    return todo


def open_store(target: str, read_only: bool, lock_timeout: float, what: str) -> Backend:
    """Connect to `target` ready for use: read-write applies pending migrations, read-only only refuses a
    newer store. Any other failure becomes one StoreError naming the store (`what`: e.g. "run store")."""
    from adaptrade.storage.backend import connect

    b = connect(target, read_only=read_only, lock_timeout=lock_timeout)
    try:
        check_not_newer(b) if read_only else migrate(b)
    except Exception as exc:
        b.close()
        if isinstance(exc, StoreError):
            raise
        raise StoreError(f"cannot open the {what}: {exc}".splitlines()[0], file=display(target)) from None
    return b
