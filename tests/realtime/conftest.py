"""Fixtures for consumer tests through the full ASGI application."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connections

from foundation.db import database_sync_to_async
from pianorhythm.asgi import application
from realtime import client_core, codec
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.runtime import stop_runtime
from users.models import User

#: The machine's Redis, which the Redis backends' tests use (a missing one fails them).
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
#: Every real client sends the Host it connects to; the handshake compares Origin with it.
HOST = (b"host", b"127.0.0.1:8000")


def with_host(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with the Host header a client would send, unless they name one."""
    return headers if any(name == b"host" for name, _ in headers) else [HOST, *headers]


class Player:
    """A test client speaking JSON or protobuf through a WebsocketCommunicator: the protocol
    core of every client (``realtime.client_core``) over Channels' in-process transport."""

    def __init__(self, communicator: WebsocketCommunicator, encoding: codec.Encoding) -> None:
        self.ws = communicator
        self.encoding = encoding
        self.session_id = ""
        self.user: pb.UserInfo | None = None
        self._wire: client_core.EncodingName = (
            "proto" if encoding is codec.Encoding.PROTO else "json"
        )
        self._pending: list[pb.ServerMessage] = []
        #: The account behind the socket, when a test connected as one.
        self.account: User | None = None
        #: Messages that arrived before the close ``expect_close`` waited for.
        self.seen: list[pb.ServerMessage] = []

    async def send(self, **kind: Any) -> None:
        frame = client_core.encode_client(pb.ClientMessage(**kind), self._wire)
        if isinstance(frame, bytes):
            await self.ws.send_to(bytes_data=frame)
        else:
            await self.ws.send_to(text_data=frame)

    async def receive(self, timeout: float = 2.0) -> pb.ServerMessage:
        while not self._pending:
            output = await self.ws.receive_output(timeout)
            if output["type"] == "websocket.close":
                raise AssertionError(f"closed with {output.get('code')}")
            self._pending.extend(self._decode(output))
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

    async def drain(self, seconds: float = 0.3) -> list[pb.ServerMessage]:
        """Every message that arrives within ``seconds`` (unlike ``receive_output``, a quiet
        socket is not cancelled)."""
        messages, self._pending = self._pending, []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            try:
                output = await asyncio.wait_for(self.ws.output_queue.get(), remaining)
            except TimeoutError:
                break
            if output["type"] == "websocket.close":
                raise AssertionError(f"closed with {output.get('code')}")
            messages.extend(self._decode(output))
        return messages

    async def expect_close(self, timeout: float = 2.0) -> int:
        """The close code the server sends within ``timeout``; messages before it are kept in
        ``seen``."""
        self.seen = list(self._pending)
        self._pending = []
        async with asyncio.timeout(timeout):
            while True:
                output = await self.ws.output_queue.get()
                if output["type"] == "websocket.close":
                    return int(output.get("code", 1000))
                self.seen.extend(self._decode(output))

    def _decode(self, output: dict[str, Any]) -> list[pb.ServerMessage]:
        frame = output["bytes"] if output.get("bytes") is not None else output["text"]
        # Strict: the server speaks the same .proto, so an unknown field is its bug.
        return client_core.decode_server(frame, strict=True)

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
        client: tuple[str, int] | None = None,
    ) -> Player:
        communicator = WebsocketCommunicator(
            application,
            path,
            headers=with_host(headers if headers is not None else [ORIGIN]),
            subprotocols=[encoding.value],
        )
        if client is not None:
            # The peer's address, as a server puts it in the scope (the communicator does not).
            communicator.scope["client"] = client
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
    # Database work ran in Channels' worker thread; close its connections there so the test
    # database can be dropped at the end of the run (PostgreSQL refuses while one is open).
    await database_sync_to_async(connections.close_all)()


ConnectUser = Callable[..., Awaitable[Player]]


@pytest.fixture
def fast_passwords(settings: Any) -> None:
    """Argon2 costs ~0.1 s a hash; consumer tests make many accounts and room passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def bearer_headers(user: User) -> list[tuple[bytes, bytes]]:
    """Handshake headers of a bot holding a fresh access token for ``user`` (database)."""
    from users.services import issue_tokens

    access = issue_tokens(user)["access"]
    return [ORIGIN, (b"authorization", f"Bearer {access}".encode())]


@pytest.fixture
def connect_user(
    connect: Connect, make_user: Callable[..., User], fast_passwords: None
) -> ConnectUser:
    """Open a socket as a registered player (a new one, or ``user``), via a Bearer JWT."""

    async def open_user(
        user: User | None = None,
        *,
        encoding: codec.Encoding = codec.Encoding.PROTO,
        client: tuple[str, int] | None = None,
        **fields: Any,
    ) -> Player:
        account = user or await database_sync_to_async(make_user)(**fields)
        headers = await database_sync_to_async(bearer_headers)(account)
        player = await connect(encoding=encoding, headers=headers, client=client)
        player.account = account
        return player

    return open_user


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the machine's Redis (which must answer: no Redis fails the test,
    it never skips it); every key under it is deleted afterwards."""
    from redis import Redis

    prefix = f"test-{uuid.uuid4().hex}"
    raw = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        raw.ping()
    except Exception as exc:  # the point: no Redis must be a failure, not a skip
        raw.close()
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc!r}")
    try:
        yield prefix
    finally:
        keys = list(raw.scan_iter(match=f"{prefix}:*"))
        if keys:
            raw.delete(*keys)
        raw.close()
