"""`adaptrade serve`: the REST API, live stream, dashboard, /metrics and backtest jobs in one process."""

from __future__ import annotations

import typer

from adaptrade.commands.common import err_console, handle_errors


@handle_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (non-loopback needs ADAPTRADE_API_TOKEN)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    db: str | None = typer.Option(None, "--db", help="Store: a DuckDB file or postgresql://USER@HOST:PORT/DB "
                                                     "(default ./adaptrade.duckdb, or ADAPTRADE_DB_URL)."),
) -> None:
    """Serve the API (/api/v1), the dashboard (/), /metrics and backtest jobs (docs/service.md)."""
    import uvicorn

    from adaptrade.api.app import create_app
    from adaptrade.api.events import redacted
    from adaptrade.api.security import check_bind
    from adaptrade.settings import load_settings
    from adaptrade.storage.backend import db_overrides, display, store_target

    settings = load_settings(**db_overrides(db))
    check_bind(host, settings)
    app = create_app(settings)
    err_console.print(f"adaptrade serve: http://{host}:{port}/ (store {display(store_target(settings))}, redis {redacted(settings.redis_url)}, "
                      f"token {'required for jobs' if settings.api_token else 'not set: loopback only, jobs open'})", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=True)
