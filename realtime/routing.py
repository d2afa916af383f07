"""WebSocket routing. The protocol endpoint arrives with the real-time issue; until then
every WebSocket handshake is refused cleanly (HTTP 403), never with a traceback."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.urls import URLPattern, URLResolver


async def refuse_websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


websocket_urlpatterns: list[URLPattern | URLResolver] = []


async def websocket_application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if not websocket_urlpatterns:
        await refuse_websocket(scope, receive, send)
        return
    await URLRouter(websocket_urlpatterns)(scope, receive, send)
