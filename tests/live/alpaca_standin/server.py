"""The stand-in's HTTP and websocket server on a free loopback port (uvicorn in a thread).

STAND-IN for Alpaca's paper trading service (https://paper-api.alpaca.markets), which is out of
reach here: REST `/v2/orders` (create, list, get, by client order id, cancel one or all),
`/v2/positions`, `/v2/account`, `/v2/clock`, daily `/v2/stocks/bars` (the market-data API, same
port here), the trade-update websocket `/stream` (JSON
`authenticate` then `listen`, as Alpaca documents it), and the market-data websocket `/v2/iex`
(msgpack frames as alpaca-py's StockDataStream speaks them: `[{"T":"success","msg":"connected"}]`,
`{"action":"auth","key","secret"}` -> `authenticated`, `{"action":"subscribe","dailyBars":[...]}` ->
`{"T":"subscription",...}`, then `[{"T":"d","S":sym,"o","h","l","c","v","t":Timestamp,"n","vw"}, ...]`).
Test controls, none of them Alpaca's: `market.reject_rules`, `market.fill_fraction`, `market.fill(...)`,
`market.clock_now` (what `/v2/clock` says; None = the wall clock), `drop_streams()`, `push_daily_bars()`,
`drop_data_streams()`, and `POST /standin/open` (the replay clock: open a session and fill at its open).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from tests.live.alpaca_standin.market import Rejected, StandinMarket

KEY_ID, SECRET = "STANDIN-KEY", "STANDIN-SECRET"
_DROP = object()


def _err(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class StandinServer:
    """Owns the market, the app and the uvicorn thread; `start()` binds 127.0.0.1 on a free port."""

    def __init__(self, market: StandinMarket | None = None) -> None:
        self.market = market or StandinMarket()
        self.market.publish = self._publish
        self.queues: list[asyncio.Queue[Any]] = []
        self.stream_connections = 0
        self.data_queues: list[asyncio.Queue[Any]] = []
        self.data_connections = 0
        self.data_subscriptions: list[dict[str, Any]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = self._build()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- URLs the adapter's settings point at ----
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    @property
    def data_stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v2/iex"

    def env(self) -> dict[str, str]:
        """ADAPTRADE_* variables that point a `paper run --broker alpaca` at this stand-in."""
        return {"ADAPTRADE_ALPACA_KEY_ID": KEY_ID, "ADAPTRADE_ALPACA_SECRET_KEY": SECRET,
                "ADAPTRADE_ALPACA_TRADING_URL": self.url, "ADAPTRADE_ALPACA_STREAM_URL": self.stream_url,
                "ADAPTRADE_ALPACA_REPLAY_CLOCK_URL": self.url + "/standin/open", "ADAPTRADE_ALPACA_DATA_URL": self.url,
                "ADAPTRADE_ALPACA_DATA_STREAM_URL": self.data_stream_url}

    # ---- lifecycle ----
    def start(self) -> StandinServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        cfg = uvicorn.Config(self.app, log_level="warning", ws="websockets-sansio", lifespan="off")
        self._server = uvicorn.Server(cfg)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stand-in server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            assert self._thread is not None
            self._thread.join(10)

    # ---- the trade-update stream ----
    def _publish(self, ev: dict[str, Any]) -> None:
        msg = {"stream": "trade_updates", "data": ev}
        if self.loop is None:
            return
        for q in list(self.queues):
            self.loop.call_soon_threadsafe(q.put_nowait, msg)

    def drop_streams(self) -> int:
        """Close every trade-update connection from the server side (a network drop); returns how many."""
        n = len(self.queues)
        if self.loop is not None:
            for q in list(self.queues):
                self.loop.call_soon_threadsafe(q.put_nowait, _DROP)
        return n

    # ---- the market-data stream ----
    def push_daily_bars(self, bars: list[dict[str, Any]]) -> int:
        """Send one msgpack frame of daily-bar messages (`daily_bar(...)`) to every subscribed data connection."""
        n = len(self.data_queues)
        if self.loop is not None:
            for q in list(self.data_queues):
                self.loop.call_soon_threadsafe(q.put_nowait, bars)
        return n

    def drop_data_streams(self) -> int:
        """Close every market-data connection from the server side (a network drop); returns how many."""
        n = len(self.data_queues)
        if self.loop is not None:
            for q in list(self.data_queues):
                self.loop.call_soon_threadsafe(q.put_nowait, _DROP)
        return n

    # ---- the app ----
    def _build(self) -> FastAPI:
        app = FastAPI(title="Alpaca stand-in (not Alpaca)")
        m = self.market

        @app.middleware("http")
        async def auth(request: Request, call_next: Any) -> Any:
            self.loop = asyncio.get_running_loop()
            if request.url.path.startswith("/v2/") and (request.headers.get("APCA-API-KEY-ID") != KEY_ID
                                                       or request.headers.get("APCA-API-SECRET-KEY") != SECRET):
                return _err(401, 40110000, "request is not authorized")
            return await call_next(request)

        @app.post("/v2/orders")
        async def create(request: Request) -> Any:
            try:
                return m.submit(await request.json())
            except Rejected as e:
                return _err(e.status, e.code, e.message)

        @app.get("/v2/orders")
        async def list_orders(status: str = "open", limit: int = 50, symbols: str | None = None) -> Any:
            return m.list(status, limit, set(symbols.split(",")) if symbols else None)

        @app.get("/v2/orders:by_client_order_id")
        async def by_client(client_order_id: str) -> Any:
            o = m.by_client_id(client_order_id)
            return o if o else _err(404, 40410000, "order not found")

        @app.get("/v2/orders/{oid}")
        async def get_order(oid: str) -> Any:
            o = m.get(oid)
            return o if o else _err(404, 40410000, "order not found")

        @app.delete("/v2/orders/{oid}")
        async def cancel(oid: str) -> Any:
            code = m.cancel(oid)
            if code == 404:
                return _err(404, 40410000, "order not found")
            if code == 422:
                return _err(422, 42210000, "order is not cancelable")
            return Response(status_code=204)

        @app.delete("/v2/orders")
        async def cancel_all() -> Any:
            return JSONResponse([{"id": r["id"], "status": r["status"], "body": None} for r in m.cancel_all()],
                                status_code=207)

        @app.get("/v2/positions")
        async def positions() -> Any:
            with m.lock:
                return [m.position_json(s) for s in sorted(m.positions)]

        @app.get("/v2/positions/{sym}")
        async def position(sym: str) -> Any:
            with m.lock:
                return m.position_json(sym) if sym in m.positions else _err(404, 40410000, "position does not exist")

        @app.get("/v2/account")
        async def account() -> Any:
            return m.account_json()

        @app.get("/v2/clock")
        async def clock() -> Any:
            now = (m.clock_now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
            nxt = (now + timedelta(days=1)).replace(hour=14, minute=30, second=0)
            return {"timestamp": now.isoformat(), "is_open": False, "next_open": nxt.isoformat(),
                    "next_close": (nxt + timedelta(hours=6, minutes=30)).isoformat()}

        @app.get("/v2/stocks/bars")
        async def bars(symbols: str, timeframe: str, start: str | None = None, end: str | None = None,
                       limit: int = 1000, page_token: str | None = None) -> Any:
            """Alpaca's multi-symbol bars: {"bars": {symbol: [{t,o,h,l,c,v,n,vw}]}, "next_page_token"}."""
            if timeframe != "1Day":
                return _err(422, 42210000, "the stand-in serves daily bars only")
            lo, hi = (start or "")[:10], (end or "9999")[:10]
            flat = [(s, b) for s in symbols.split(",") for b in m.daily.get(s, []) if lo <= b["t"][:10] <= hi]
            off = int(page_token or 0)
            page = flat[off:off + min(limit, m.page_cap)]
            out: dict[str, list[dict[str, Any]]] = {}
            for s, b in page:
                out.setdefault(s, []).append(b)
            nxt = off + len(page)
            return {"bars": out, "next_page_token": str(nxt) if nxt < len(flat) else None}

        @app.post("/standin/open")
        async def open_session(request: Request) -> Any:  # stand-in control, not an Alpaca endpoint
            body = await request.json()
            return {"date": body["date"], "fills": m.open_session(str(body["date"]))}

        @app.websocket("/v2/{feed}")
        async def data_stream(ws: WebSocket, feed: str) -> None:
            """The market-data stream, msgpack both ways, as alpaca-py's DataStream expects it."""
            self.loop = asyncio.get_running_loop()
            await ws.accept()
            try:
                await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
                auth = msgpack.unpackb(await ws.receive_bytes())
                if auth.get("action") != "auth" or auth.get("key") != KEY_ID or auth.get("secret") != SECRET:
                    await ws.send_bytes(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
                    await ws.close()
                    return
                await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
                sub = msgpack.unpackb(await ws.receive_bytes())
                if sub.get("action") != "subscribe":
                    await ws.send_bytes(msgpack.packb([{"T": "error", "code": 400, "msg": "invalid syntax"}]))
                    await ws.close()
                    return
                self.data_subscriptions.append(sub)
                await ws.send_bytes(msgpack.packb([{"T": "subscription", **{k: list(sub.get(k, [])) for k in (
                    "trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds", "corrections", "cancelErrors")}}]))
                self.data_connections += 1
                await pump(ws, self.data_queues, ws.receive_bytes, lambda m: ws.send_bytes(msgpack.packb(m, datetime=False)))
            except WebSocketDisconnect:
                return

        @app.websocket("/stream")
        async def stream(ws: WebSocket) -> None:
            self.loop = asyncio.get_running_loop()
            await ws.accept()
            try:
                auth = json.loads(await ws.receive_text())
                data = auth.get("data", {})
                ok = auth.get("action") in ("auth", "authenticate") and data.get("key_id") == KEY_ID \
                    and data.get("secret_key") == SECRET
                await ws.send_text(json.dumps({"stream": "authorization", "data": {
                    "action": "authenticate", "status": "authorized" if ok else "unauthorized"}}))
                if not ok:
                    await ws.close()
                    return
                listen = json.loads(await ws.receive_text())
                streams = listen.get("data", {}).get("streams", [])
                await ws.send_text(json.dumps({"stream": "listening", "data": {"streams": streams}}))
                self.stream_connections += 1
                await pump(ws, self.queues, ws.receive_text, lambda m: ws.send_text(json.dumps(m)))
            except WebSocketDisconnect:
                return

        return app


async def pump(ws: Any, queues: list[Any], receive: Any, send: Any) -> None:
    """Send what the test queues to one connected client until it goes away or the test drops it; the
    client's frames are read meanwhile, so its close handshake is answered. The queue is listed in `queues`
    while the client is connected."""
    q: asyncio.Queue[Any] = asyncio.Queue()
    queues.append(q)

    async def reader() -> None:
        try:
            while True:
                await receive()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            q.put_nowait(None)

    task = asyncio.create_task(reader())
    try:
        while True:
            msg = await q.get()
            if msg is None:
                return
            if msg is _DROP:
                await ws.close(code=1011)
                return
            await send(msg)
    finally:
        task.cancel()
        queues.remove(q)


def daily_bar(symbol: str, day: str, o: float, h: float, low: float, c: float, v: float) -> dict[str, Any]:
    """A daily-bar message as Alpaca's stream documents it; `t` the day's start in New York (msgpack Timestamp)."""
    from zoneinfo import ZoneInfo

    t = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo("America/New_York"))
    return {"T": "d", "S": symbol, "o": o, "h": h, "l": low, "c": c, "v": v, "t": msgpack.Timestamp.from_datetime(t),
            "n": 1, "vw": c}
