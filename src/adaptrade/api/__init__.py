"""The service of issue 14: REST API, live event stream over Redis, dashboard and /metrics (docs/service.md)."""
