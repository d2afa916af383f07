"""No frame the server sends exceeds the WebSocket message limit Daphne enforces, whatever
the room holds: a bigger one is refused by Daphne and used to leave the socket deaf for good
(hardening issue, item 1). Receivers here read with that limit themselves."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets
from google.protobuf import json_format
from websockets.typing import Subprotocol

from realtime.client import PianoClient
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.e2e.conftest import ServerProcess
from tests.e2e.test_multi_instance import create_room, register

pytestmark = pytest.mark.e2e

LIMIT = 65536
WIDE = "🎹"  # four bytes in UTF-8


class Receiver:
    """A raw JSON or protobuf client that refuses frames over LIMIT, as a strict one would."""

    def __init__(self, connection: Any, encoding: str) -> None:
        self.connection = connection
        self.encoding = encoding
        self.sizes: list[int] = []
        self.messages: list[pb.ServerMessage] = []

    async def send(self, **kind: Any) -> None:
        message = pb.ClientMessage(**kind)
        if self.encoding == "json":
            await self.connection.send(json_format.MessageToJson(message))
        else:
            await self.connection.send(message.SerializeToString())

    async def until(self, predicate: Callable[[pb.ServerMessage], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not any(predicate(m) for m in self.messages):
                frame = await self.connection.recv()
                self.sizes.append(len(frame.encode() if isinstance(frame, str) else frame))
                if isinstance(frame, str):
                    decoded = json_format.Parse(frame, pb.ServerFrame())
                else:
                    decoded = pb.ServerFrame.FromString(frame)
                self.messages.extend(decoded.messages)

    def of(self, kind: str) -> list[Any]:
        return [getattr(m, kind) for m in self.messages if m.WhichOneof("kind") == kind]


@contextlib.asynccontextmanager
async def receiver(server: ServerProcess, encoding: str) -> AsyncIterator[Receiver]:
    subprotocol = Subprotocol(f"pianorhythm.v1.{encoding}")
    async with websockets.connect(
        server.ws_url, subprotocols=[subprotocol], max_size=LIMIT, proxy=None
    ) as connection:
        yield Receiver(connection, encoding)


def fill_chat(server: ServerProcess, room: str, lines: int, text: str) -> None:
    server.manage(
        "shell",
        "-c",
        "from rooms.models import ChatMessage, Room; "
        f"room = Room.objects.get(name={room!r}); "
        "ChatMessage.objects.bulk_create(["
        f"ChatMessage(room=room, display_name='x', text={text!r}) for _ in range({lines})])",
    )


@pytest.mark.parametrize("encoding", ["json", "proto"])
async def test_a_room_with_fifty_huge_chat_lines_does_not_deafen_those_who_join_it(
    server_process: Callable[..., ServerProcess], encoding: str
) -> None:
    server = server_process()
    token = register(server, f"chatty{uuid.uuid4().hex[:6]}")
    room = create_room(server, token)
    fill_chat(server, room, 50, WIDE * 500)  # 100 KB of history: more than a frame holds
    async with receiver(server, encoding) as guest:
        await guest.send(join_room=pb.JoinRoom(room_name=room))
        await guest.until(lambda m: m.WhichOneof("kind") == "room_state", timeout=10)
        # All fifty lines arrive: part in the room state, the rest right after, in order.
        async with PianoClient.connect(server.ws_url, token=token) as owner:
            await owner.join(room)
            await owner.chat("still there?")
            await guest.until(
                lambda m: m.WhichOneof("kind") == "chat" and m.chat.text == "still there?",
                timeout=10,
            )
        history = [*guest.of("room_state")[0].recent_chat, *guest.of("chat")[:-1]]
        assert len(history) == 50
        assert {line.text for line in history} == {WIDE * 500}
        assert max(guest.sizes) <= LIMIT


@pytest.mark.parametrize("encoding", ["json", "proto"])
async def test_a_thousand_public_rooms_do_not_deafen_the_home_page(
    server_process: Callable[..., ServerProcess], encoding: str
) -> None:
    server = server_process()
    token = register(server, f"host{uuid.uuid4().hex[:6]}")
    server.manage(
        "shell",
        "-c",
        "from rooms.models import Room; "
        "Room.objects.bulk_create("
        f"Room(name=f'r{{n:04}} ' + {WIDE!r} * 58, persistent=True) for n in range(1100))",
    )
    async with receiver(server, encoding) as visitor:
        await visitor.send(room_list=pb.SubscribeRoomList(subscribe=True))
        await visitor.until(lambda m: m.WhichOneof("kind") == "room_list", timeout=10)
        full = visitor.of("room_list")[0]
        assert full.full
        assert full.truncated
        assert len(full.rooms) == 100
        # And it keeps hearing: a new room shows up.
        room = create_room(server, token)
        async with PianoClient.connect(server.ws_url, token=token) as owner:
            await owner.join(room)
            await visitor.until(
                lambda m: any(r.name == room for r in m.room_list.rooms), timeout=10
            )
        assert max(visitor.sizes) <= LIMIT


@pytest.mark.server_layer
@pytest.mark.parametrize("encoding", ["json", "proto"])
async def test_a_client_frame_over_the_limit_is_closed_with_1009_and_frees_its_seat(
    server_process: Callable[..., ServerProcess], encoding: str
) -> None:
    server = server_process()
    async with PianoClient.connect(server.ws_url) as observer:
        await observer.join("lobby")
        async with receiver(server, encoding) as big:
            await big.send(join_room=pb.JoinRoom(room_name="lobby"))
            await big.until(lambda m: m.WhichOneof("kind") == "room_state", timeout=10)
            oversized = "x" * (LIMIT + 1024)
            await big.connection.send(oversized if encoding == "json" else oversized.encode())
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(big.connection.recv(), 10)
            assert closed.value.rcvd is not None  # a close frame, not a dropped connection
            assert closed.value.rcvd.code == 1009
        await observer.next_message("member_left", timeout=10)
