"""RFC 7807 problem JSON for every error, and the request-body limit (413) as plain ASGI."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adaptrade.errors import AdaptradeError, StoreError

log = logging.getLogger("adaptrade.api")
PROBLEM = "application/problem+json"


def problem(status: int, detail: str, instance: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json response."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem JSON (no 500 for bad input)."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # one path may have several routes (GET and DELETE): list them all
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
        return problem(exc.status_code, str(exc.detail), request.url.path, headers or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, _validation_detail(exc), request.url.path)

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        log.warning("store error on %s: %s", request.url.path, exc.describe())
        return problem(503, f"the store is not available: {exc.describe()}", request.url.path)

    @app.exception_handler(AdaptradeError)
    async def _bad_input(request: Request, exc: AdaptradeError) -> JSONResponse:
        return problem(422, exc.describe(), request.url.path)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, f"internal error ({type(exc).__name__})", request.url.path)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the schema documents for the template matching `path`."""
    import re

    out: set[str] = set()
    for template, ops in app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            out |= {m.upper() for m in ops}
    return sorted(out)


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI schema with every 4xx/5xx answer documented as application/problem+json of Problem
    (FastAPI documents them as application/json and its own 422 body otherwise)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    ref = {"$ref": "#/components/schemas/Problem"}
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            responses = op.setdefault("responses", {})
            responses.setdefault("422", {"description": "Bad parameter."})
            if op.get("requestBody"):
                responses.setdefault("400", {"description": "Body is not valid JSON."})
                responses.setdefault("413", {"description": "Body too large."})
            responses.setdefault("405", {"description": "Method not allowed on this path."})
            for code, resp in responses.items():
                current = resp.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                if code[0] in "45" and (not current or current.endswith(("/Problem", "/HTTPValidationError"))):
                    resp["content"] = {PROBLEM: {"schema": ref}}
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    from adaptrade.api.models import Problem

    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = doc
    return doc


class BodyLimit:
    """413 problem JSON for bodies over `limit` bytes, by Content-Length or by counting a streamed body."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        seen = 0
        started = False

        async def counted() -> dict[str, Any]:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return msg

        async def tracked_send(msg: dict[str, Any]) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted, tracked_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        resp = problem(413, f"request body larger than {self.limit} bytes", scope.get("path"))
        await resp(scope, receive, send)


class _TooLarge(BaseException):  # not an Exception, so no handler turns it into a 500
    pass
