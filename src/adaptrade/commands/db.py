"""`adaptrade db status|migrate|copy|export`: the store's schema version and migrations, runs moved
between DuckDB and PostgreSQL, a run exported as Parquet."""

from __future__ import annotations

from pathlib import Path

import typer

from adaptrade.commands.common import console, handle_errors

app = typer.Typer(no_args_is_help=True, help="The run store: schema version, migrations, copy between backends, Parquet export.")
DB_HELP = "Store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default ./adaptrade.duckdb, or ADAPTRADE_DB_URL)."


def _target(db: str | None) -> tuple[str, float]:
    from adaptrade.settings import load_settings
    from adaptrade.storage.backend import store_target

    s = load_settings()
    return store_target(s, db), s.store_lock_timeout


@app.command("status")
@handle_errors
def db_status(db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Print the backend, the schema version and the pending migrations."""
    from adaptrade.storage import schema
    from adaptrade.storage.backend import connect, display, exists

    target, timeout = _target(db)
    if not exists(target):
        console.print(f"{display(target)}: no store yet (created at schema version {schema.VERSION} on first use)", highlight=False)
        return
    b = connect(target, read_only=not target.startswith("postgres"), lock_timeout=timeout)
    try:
        v = schema.check_not_newer(b)
        todo = schema.pending(b)
    finally:
        b.close()
    console.print(f"{display(target)} ({b.kind}): schema version {v}, this adaptrade {schema.VERSION}", highlight=False)
    if not todo:
        console.print("no pending migrations")
    for m in todo:
        console.print(f"pending {m.version}: {m.description}", highlight=False)


@app.command("migrate")
@handle_errors
def db_migrate(db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Apply the pending migrations (in one transaction)."""
    from adaptrade.storage import schema
    from adaptrade.storage.backend import connect, display

    target, timeout = _target(db)
    b = connect(target, lock_timeout=timeout)
    try:
        done = schema.migrate(b)
    finally:
        b.close()
    for m in done:
        console.print(f"applied {m.version}: {m.description}", highlight=False)
    console.print(f"{display(target)}: schema version {schema.VERSION}" + ("" if done else " (nothing to do)"), highlight=False)


@app.command("copy")
@handle_errors
def db_copy(
    run_ids: list[str] | None = typer.Argument(None, help="Run ids (default: every complete run)."),
    src: str = typer.Option(..., "--from", help="Source store (path or URL)."),
    dst: str = typer.Option(..., "--to", help="Destination store (path or URL)."),
) -> None:
    """Copy runs between stores (DuckDB <-> PostgreSQL); each run's rows are counted at the destination."""
    from adaptrade.storage.backend import display
    from adaptrade.storage.transfer import copy_runs

    _, timeout = _target(None)
    done = copy_runs(src, dst, list(run_ids or []) or None, lock_timeout=timeout)
    for rid, counts in done.items():
        console.print(f"{rid}: " + ", ".join(f"{t} {n:,}" for t, n in counts.items() if n), highlight=False)
    console.print(f"copied {len(done)} runs to {display(dst)}; row counts checked", highlight=False)


@app.command("export")
@handle_errors
def db_export(
    run_id: str = typer.Argument(..., help="Run id."),
    to: Path = typer.Option(..., "--to", help="Folder for the Parquet files."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Write one run as Parquet files (one per stored table) plus run.json."""
    from adaptrade.storage.transfer import export_run

    target, timeout = _target(db)
    files = export_run(target, run_id, to, lock_timeout=timeout)
    console.print(f"wrote {to}/ (" + ", ".join(p.name for p in files) + ")", highlight=False)
