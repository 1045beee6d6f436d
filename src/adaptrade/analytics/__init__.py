"""Analytics over a stored run: returns, attribution, tax lots, drawdowns. SQL runs in DuckDB over
the run's tables (a PostgreSQL store's tables arrive through Arrow); the tax lot matching is a
sequential pass in Python (docs/analytics.md)."""
