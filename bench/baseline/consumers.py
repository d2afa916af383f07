"""The textbook Channels room consumer: the reference the project is measured against.

Exactly the Channels tutorial's shape: join a group per room on connect, ``group_send``
every received message to the room's group through the channel layer, and ``send_json`` it
from the group handler to each member (the sender gets its own echo back).
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class BaselineRoomConsumer(AsyncJsonWebsocketConsumer):
    group: str = ""

    async def connect(self) -> None:
        self.group = "bench_" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.channel_layer.group_send(self.group, {"type": "room.message", "data": content})

    async def room_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["data"])
