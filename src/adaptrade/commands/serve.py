"""`adaptrade serve`: the REST API, live stream, dashboard, /metrics and backtest jobs in one process."""

from __future__ import annotations

from pathlib import Path

import typer

from adaptrade.commands.common import err_console, handle_errors


@handle_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (non-loopback needs ADAPTRADE_API_TOKEN)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    db: Path | None = typer.Option(None, "--db", help="DuckDB run store (default ./adaptrade.duckdb)."),
) -> None:
    """Serve the API (/api/v1), the dashboard (/), /metrics and backtest jobs (docs/service.md)."""
    import uvicorn

    from adaptrade.api.app import create_app
    from adaptrade.api.events import redacted
    from adaptrade.api.security import check_bind
    from adaptrade.settings import load_settings

    settings = load_settings(db_path=db)
    check_bind(host, settings)
    app = create_app(settings)
    err_console.print(f"adaptrade serve: http://{host}:{port}/ (store {settings.db_path}, redis {redacted(settings.redis_url)}, "
                      f"token {'required for jobs' if settings.api_token else 'not set: loopback only, jobs open'})", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=True)
