"""Per-person limits hold across instances (hardening issue, items 3 and 7): two Daphnes
sharing one Redis count one address's sockets and one player's notes together, and behind
a proxy (NUM_PROXIES) the client's own address is what counts."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import websockets
from google.protobuf import json_format
from websockets.typing import Subprotocol

from realtime.client import PianoClient
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.e2e.conftest import RedisServer, ServerProcess
from tests.e2e.test_multi_instance import create_room, register

pytestmark = pytest.mark.e2e
JSON = Subprotocol("pianorhythm.v1.json")


@contextlib.asynccontextmanager
async def sockets(urls: list[str], forwarded_for: str = "") -> AsyncIterator[list[str]]:
    """Open one socket per url; yield what each got first ("welcome" or an error code)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with contextlib.AsyncExitStack() as stack:
        firsts: list[str] = []
        for url in urls:
            connection = await stack.enter_async_context(
                websockets.connect(url, subprotocols=[JSON], additional_headers=headers, proxy=None)
            )
            frame = json_format.Parse(await connection.recv(), pb.ServerFrame())
            message = frame.messages[0]
            kind = message.WhichOneof("kind") or ""
            firsts.append(kind if kind == "welcome" else pb.ErrorCode.Name(message.error.code))
        yield firsts


async def test_one_addresss_sockets_are_counted_across_instances(
    server_process: Callable[..., ServerProcess], redis_server: RedisServer
) -> None:
    env = {"REDIS_URL": redis_server.url, "MAX_GUEST_SOCKETS_PER_ADDRESS": "6"}
    a, b = server_process(env), server_process(env)
    async with sockets([a.ws_url, b.ws_url] * 4) as firsts:
        assert firsts.count("welcome") == 6
        assert firsts[6:] == ["ERROR_CODE_RATE_LIMITED"] * 2


@pytest.mark.server_layer
async def test_behind_a_proxy_the_clients_own_address_counts(
    server_process: Callable[..., ServerProcess],
) -> None:
    server = server_process({"NUM_PROXIES": "1", "MAX_GUEST_SOCKETS_PER_ADDRESS": "2"})
    urls = [server.ws_url] * 3
    # Three players behind one proxy address, each its own address: none is limited...
    async with contextlib.AsyncExitStack() as stack:
        for n in range(3):
            firsts = await stack.enter_async_context(sockets([server.ws_url], f"192.0.2.{n}"))
            assert firsts == ["welcome"]
        # ...while one of them opening more is (what it claims before the proxy's entry,
        # the last, counts for nothing).
        async with sockets(urls, "198.51.100.1, 192.0.2.0") as firsts:
            assert firsts == ["welcome", "ERROR_CODE_RATE_LIMITED", "ERROR_CODE_RATE_LIMITED"]


async def test_one_players_notes_share_one_quota_across_instances(
    server_process: Callable[..., ServerProcess], redis_server: RedisServer
) -> None:
    env = {"REDIS_URL": redis_server.url}
    a, b = server_process(env), server_process(env)
    token = register(a, f"player{uuid.uuid4().hex[:6]}")
    listener_token = register(a, f"listener{uuid.uuid4().hex[:6]}")
    # The listener's room: for the player, a member, 400 notes per 2 s bursting to 1,200.
    room = create_room(a, listener_token)
    async with (
        PianoClient.connect(a.ws_url, token=listener_token) as listener,
        PianoClient.connect(a.ws_url, token=token) as on_a,
        PianoClient.connect(b.ws_url, token=token) as on_b,
    ):
        await listener.join(room)
        await on_a.join(room)
        await on_b.join(room)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        batch = [("NOTE_ON", 60, 90, 0)] * 300
        for _ in range(4):  # 2,400 notes, 1,200 from each instance
            await on_a.send_notes(batch)
            await on_b.send_notes(batch)
        heard = 0
        with contextlib.suppress(TimeoutError):
            while True:
                message = await listener.next_message("note_batch", timeout=1.5)
                heard += len(message.note_batch.notes)
        elapsed = time.monotonic() - started
    # The room's burst of 1,200 for the player, plus what refills (200 a second) meanwhile.
    assert 1200 <= heard <= 1200 + 200 * elapsed + 50
