"""WebSocket routing: ``/ws/`` is the protocol endpoint; every other path is refused with
HTTP 403 before accept, never with a traceback (docs/protocol.md, What can happen to a
handshake)."""

from __future__ import annotations

from typing import Any

from channels.sessions import CookieMiddleware

from realtime.closing import CloseCode
from realtime.consumers import PianoConsumer

WEBSOCKET_PATH = "/ws/"

# Cookies only: the handshake opens the session itself. Channels' session middleware would
# also wrap every send of the socket, a cost on the hot path and a layer hiding Daphne's own
# send (see realtime/backpressure.py).
_endpoint = CookieMiddleware(PianoConsumer.as_asgi())


async def refuse_websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] == "websocket.connect":
        # Before the accept the code is never sent (the client sees an HTTP 403); a plain
        # int all the same, as the interface server takes no other type.
        await send({"type": "websocket.close", "code": int(CloseCode.POLICY_VIOLATION)})


async def websocket_application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope.get("path") == WEBSOCKET_PATH:
        await _endpoint(scope, receive, send)
    else:
        await refuse_websocket(scope, receive, send)
