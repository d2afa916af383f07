"""The calibration ceiling (README, Benchmark): a bare ASGI WebSocket broadcast app.

No Django, no Channels: each frame received on ``/ws/<room>/`` is sent unchanged to every
other socket of that room in this process. Nothing a real server must do (auth, checks,
quotas, a channel layer) is here, so what it reaches is what the interface server and the
load generator allow on this machine. Serve it with
``daphne bench.ceiling:app`` or ``uvicorn bench.ceiling:app``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_rooms: dict[str, set[Send]] = {}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await _probe(receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "websocket":
        await _websocket(scope["path"], receive, send)


async def _probe(receive: Receive, send: Send) -> None:
    """Answers readiness probes."""
    await receive()
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _websocket(path: str, receive: Receive, send: Send) -> None:
    parts = [p for p in path.split("/") if p]
    if len(parts) != 2 or parts[0] != "ws":
        await receive()
        await send({"type": "websocket.close", "code": 1008})
        return
    members = _rooms.setdefault(parts[1], set())
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.connect":
                await send({"type": "websocket.accept"})
                members.add(send)
            elif kind == "websocket.receive":
                await _broadcast(members, send, message)
            elif kind == "websocket.disconnect":
                return
    finally:
        members.discard(send)
        if not members:
            _rooms.pop(parts[1], None)


async def _broadcast(members: set[Send], sender: Send, message: MutableMapping[str, Any]) -> None:
    text = message.get("text")
    out = (
        {"type": "websocket.send", "text": text}
        if text is not None
        else {"type": "websocket.send", "bytes": message.get("bytes")}
    )
    for other in list(members):
        if other is not sender:
            await other(out)
