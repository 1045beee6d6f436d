"""WS /api/v1/stream: the event stream from Redis, resuming after the `last_id` a client saw."""

from __future__ import annotations

import asyncio
import json
import re

import redis
import redis.asyncio as aioredis
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from adaptrade.api.events import parse_entry
from adaptrade.api.security import check_token

router = APIRouter(prefix="/api/v1")
_ID = re.compile(r"^(\$|0|\d+-\d+|\d+)$")


@router.websocket("/stream")
async def stream(ws: WebSocket, last_id: str = "$") -> None:
    """Send every event after `last_id` (`0`: from the oldest kept, `$`: only new ones) as JSON
    {id, kind, data}. With Redis down: one {"kind": "error", ...} message, then close (code 1013)."""
    svc = ws.app.state.service
    await ws.accept()
    if svc.settings.api_read_protected:  # browsers cannot set headers: the first message carries the token
        try:
            first = json.loads(await asyncio.wait_for(ws.receive_text(), 5.0))
            check_token(f"Bearer {first.get('token', '')}", svc.settings)
        except Exception:  # noqa: BLE001  any bad first message is refused the same way
            await ws.send_json({"kind": "error", "detail": "this stream needs {\"token\": ...} as the first message"})
            await ws.close(code=1008)
            return
    if not _ID.match(last_id):
        await ws.send_json({"kind": "error", "detail": f"last_id must be a stream id like 1700000000000-0, 0 or $, got {last_id!r}"})
        await ws.close(code=1008)
        return
    client = aioredis.Redis.from_url(svc.settings.redis_url, socket_connect_timeout=0.5, decode_responses=True)
    cursor = last_id
    gone: asyncio.Task[None] | None = None
    try:
        await client.ping()  # say at once when Redis is down
        if cursor == "$":  # pin "new from now" to a real id, so a reconnect with it misses nothing
            info = await client.xinfo_stream(svc.bus.stream) if await client.exists(svc.bus.stream) else None
            cursor = info["last-generated-id"] if info else "0"
        await ws.send_json({"kind": "hello", "id": cursor, "data": {"stream": svc.bus.stream}})
        gone = asyncio.create_task(_until_closed(ws))
        while not gone.done():
            reply = await client.xread({svc.bus.stream: cursor}, count=500, block=500)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    await ws.send_json(parse_entry(entry_id, fields))
                    cursor = entry_id
    except (redis.RedisError, OSError) as exc:
        await _down(ws, f"Redis is not available ({type(exc).__name__}); resume later with last_id={cursor}")
    except (WebSocketDisconnect, RuntimeError):  # the client went away
        pass
    finally:
        if gone is not None:
            gone.cancel()
        await client.aclose()


async def _until_closed(ws: WebSocket) -> None:
    """Return when the client closes (messages from the client are ignored)."""
    try:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError):
        pass


async def _down(ws: WebSocket, detail: str) -> None:
    try:
        await ws.send_json({"kind": "error", "detail": detail})
        await ws.close(code=1013)
    except Exception:  # noqa: BLE001, S110  the client may be gone already
        pass


