"""Fixtures for consumer tests through the full ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from pianorhythm.asgi import application
from realtime import codec
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.runtime import stop_runtime

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


class Player:
    """A test client speaking JSON or protobuf through a WebsocketCommunicator."""

    def __init__(self, communicator: WebsocketCommunicator, encoding: codec.Encoding) -> None:
        self.ws = communicator
        self.encoding = encoding
        self.session_id = ""
        self.user: pb.UserInfo | None = None
        self._pending: list[pb.ServerMessage] = []

    async def send(self, **kind: Any) -> None:
        message = pb.ClientMessage(**kind)
        if self.encoding is codec.Encoding.PROTO:
            await self.ws.send_to(bytes_data=message.SerializeToString())
        else:
            from google.protobuf import json_format

            await self.ws.send_to(text_data=json_format.MessageToJson(message))

    async def receive(self, timeout: float = 2.0) -> pb.ServerMessage:
        while not self._pending:
            output = await self.ws.receive_output(timeout)
            if output["type"] == "websocket.close":
                raise AssertionError(f"closed with {output.get('code')}")
            if "bytes" in output and output["bytes"] is not None:
                frame = pb.ServerFrame.FromString(output["bytes"])
            else:
                from google.protobuf import json_format

                frame = json_format.Parse(output["text"], pb.ServerFrame())
            self._pending.extend(frame.messages)
        return self._pending.pop(0)

    async def expect(self, kind: str, timeout: float = 2.0) -> Any:
        """The next message of oneof ``kind``, skipping others."""
        while True:
            message = await self.receive(timeout)
            if message.WhichOneof("kind") == kind:
                return getattr(message, kind)

    async def join(self, room_name: str = "lobby", **fields: Any) -> pb.RoomState:
        await self.send(join_room=pb.JoinRoom(room_name=room_name, **fields))
        message = await self.receive()
        while message.WhichOneof("kind") not in ("room_state", "error"):
            message = await self.receive()
        if message.WhichOneof("kind") == "error":
            raise AssertionError(f"join refused: {message.error}")
        return message.room_state

    async def close(self) -> None:
        await self.ws.disconnect()


Connect = Callable[..., Awaitable[Player]]


@pytest.fixture
async def connect(transactional_db: None) -> AsyncIterator[Connect]:
    players: list[Player] = []

    async def open_player(
        *,
        encoding: codec.Encoding = codec.Encoding.PROTO,
        headers: list[tuple[bytes, bytes]] | None = None,
        path: str = "/ws/",
    ) -> Player:
        communicator = WebsocketCommunicator(
            application,
            path,
            headers=headers if headers is not None else [ORIGIN],
            subprotocols=[encoding.value],
        )
        connected, _ = await communicator.connect(timeout=5)
        if not connected:
            raise AssertionError("connection refused")
        player = Player(communicator, encoding)
        welcome = await player.expect("welcome")
        player.session_id = welcome.session_id
        player.user = welcome.user
        players.append(player)
        return player

    yield open_player
    for player in players:
        if not player.ws.future.done():
            await player.ws.disconnect()
    await stop_runtime()
