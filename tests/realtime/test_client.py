"""realtime.client (and the terminal client on it) against a tiny fake server
(websockets.serve), not the real consumer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from google.protobuf import json_format
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from realtime.client import (
    JSON_SUBPROTOCOL,
    PROTO_SUBPROTOCOL,
    ClientClosedError,
    ClientError,
    PianoClient,
)
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.terminal import Terminal

ENCODINGS = ["proto", "json"]


def _member(session_id: str, name: str) -> pb.Member:
    return pb.Member(session_id=session_id, user=pb.UserInfo(id=f"u-{name}", display_name=name))


@dataclass
class FakeServer:
    """Speaks just enough protocol v1: welcome, join, time sync; records what it receives."""

    subprotocols: list[str] = field(default_factory=lambda: [PROTO_SUBPROTOCOL, JSON_SUBPROTOCOL])
    clock_offset_ms: float = 0.0
    refuse_with: int | None = None
    garbage_after_welcome: bool = False
    received: list[pb.ClientMessage] = field(default_factory=list)
    raw_frames: list[bytes | str] = field(default_factory=list)
    encodings: list[str | None] = field(default_factory=list)
    headers: list[Headers] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    connections: list[ServerConnection] = field(default_factory=list)
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws/"

    def now(self) -> float:
        return time.time() * 1000 + self.clock_offset_ms

    async def send(self, connection: ServerConnection, *messages: pb.ServerMessage) -> None:
        """One ServerFrame holding ``messages``, in the connection's encoding."""
        frame = pb.ServerFrame(messages=messages)
        if connection.subprotocol == PROTO_SUBPROTOCOL:
            await connection.send(frame.SerializeToString())
        else:
            await connection.send(json.dumps(json_format.MessageToDict(frame)))

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.headers.append(request.headers)
        self.paths.append(request.path)
        if self.refuse_with is not None:
            return connection.respond(self.refuse_with, "refused\n")
        return None

    async def handle(self, connection: ServerConnection) -> None:
        self.connections.append(connection)
        self.encodings.append(connection.subprotocol)
        welcome = pb.Welcome(
            session_id=f"s{len(self.connections)}",
            user=pb.UserInfo(id="g-1", username="Guest-abcd", display_name="Guest-abcd"),
            server_time=self.now(),
            server_version="test",
        )
        await self.send(connection, pb.ServerMessage(welcome=welcome))
        if self.garbage_after_welcome:
            await connection.send(b"\xff\xff\xff not a frame")
            await connection.send("{not json")
        with contextlib.suppress(ConnectionClosed):
            await self.serve_frames(connection)

    async def serve_frames(self, connection: ServerConnection) -> None:
        async for frame in connection:
            self.raw_frames.append(frame)
            message = pb.ClientMessage()
            if isinstance(frame, bytes):
                message.ParseFromString(frame)
            else:
                json_format.Parse(frame, message)
            self.received.append(message)
            await self.answer(connection, message)

    async def answer(self, connection: ServerConnection, message: pb.ClientMessage) -> None:
        kind = message.WhichOneof("kind")
        if kind == "time_sync":
            reply = pb.TimeSyncReply(
                client_time=message.time_sync.client_time, server_time=self.now()
            )
            await self.send(connection, pb.ServerMessage(time_sync=reply))
        elif kind == "join_room" and message.join_room.room_name == "full":
            error = pb.Error(code=pb.ERROR_CODE_ROOM_FULL, message="Full.", request="join_room")
            await self.send(connection, pb.ServerMessage(error=error))
        elif kind == "join_room":
            state = pb.RoomState(
                room=pb.RoomInfo(id="r-1", name=message.join_room.room_name, member_count=2),
                members=[_member("s1", "me"), _member("s9", "other")],
            )
            # Three messages in one frame: the client must split them.
            await self.send(
                connection,
                pb.ServerMessage(chat=pb.ChatMessage(id="c-0", text="before the state")),
                pb.ServerMessage(room_state=state),
                pb.ServerMessage(member_joined=pb.MemberJoined(member=_member("s10", "late"))),
            )
        elif kind == "chat":
            line = pb.ChatMessage(
                id="c-1", session_id="s9", display_name="other", text=message.chat.text
            )
            await self.send(connection, pb.ServerMessage(chat=line))


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()

    def select(connection: ServerConnection, offered: list[str]) -> str | None:
        return next((name for name in offered if name in fake.subprotocols), None)

    async with serve(
        fake.handle,
        "127.0.0.1",
        0,
        select_subprotocol=select,  # type: ignore[arg-type]
        process_request=fake.process_request,
    ) as server:
        fake.server = server
        yield fake


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_connect_waits_for_welcome(fake_server: FakeServer, encoding: str) -> None:
    async with PianoClient.connect(fake_server.url, encoding=encoding) as client:  # type: ignore[arg-type]
        assert client.session_id == "s1"
        assert client.user.username == "Guest-abcd"
        assert client.encoding == encoding
    assert fake_server.encodings == [f"pianorhythm.v1.{encoding}"]
    assert client.closed


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_join_returns_room_state_and_keeps_the_rest_of_the_frame(
    fake_server: FakeServer, encoding: str
) -> None:
    async with PianoClient.connect(fake_server.url, encoding=encoding) as client:  # type: ignore[arg-type]
        state = await client.join("lobby", create_if_missing=True, settings={"max_members": 5})

        assert state.room.name == "lobby"
        assert [m.session_id for m in state.members] == ["s1", "s9"]
        assert client.room == state
        # The frame's other two messages are kept in order; room_state was the join's reply.
        first = await client.next_message(timeout=1)
        second = await client.next_message(timeout=1)
        assert first.chat.text == "before the state"
        assert second.member_joined.member.session_id == "s10"
    join = next(m.join_room for m in fake_server.received if m.WhichOneof("kind") == "join_room")
    assert join.create_if_missing
    assert join.settings.max_members == 5


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_join_error_reply_raises_client_error(fake_server: FakeServer, encoding: str) -> None:
    async with PianoClient.connect(fake_server.url, encoding=encoding) as client:  # type: ignore[arg-type]
        with pytest.raises(ClientError) as caught:
            await client.join("full")

        assert caught.value.code == "ROOM_FULL"
        assert caught.value.request == "join_room"
        assert client.room is None


async def test_next_message_by_kind_leaves_other_messages_in_order(fake_server: FakeServer) -> None:
    async with PianoClient.connect(fake_server.url) as client:
        await client.join("lobby")

        joined = await client.next_message("member_joined", timeout=1)
        chat = await client.next_message("chat", timeout=1)

        assert joined.member_joined.member.session_id == "s10"
        assert chat.chat.text == "before the state"
        with pytest.raises(TimeoutError):
            await client.next_message(timeout=0.05)


async def test_next_message_filters_with_where(fake_server: FakeServer) -> None:
    async with PianoClient.connect(fake_server.url) as client:
        await client.chat("one")
        await client.chat("two")

        second = await client.next_message("chat", where=lambda m: m.chat.text == "two")
        first = await client.next_message("chat")

        assert (first.chat.text, second.chat.text) == ("one", "two")


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_send_notes_accepts_tuples_and_stamps_server_time(
    fake_server: FakeServer, encoding: str
) -> None:
    fake_server.clock_offset_ms = 60_000.0
    async with PianoClient.connect(fake_server.url, encoding=encoding) as client:  # type: ignore[arg-type]
        await client.time_sync()
        await client.send_notes(
            [
                ("NOTE_ON", 60, 100, 0),
                ("NOTE_EVENT_TYPE_NOTE_OFF", 60, 0, 250),
                (pb.NOTE_EVENT_TYPE_SUSTAIN_ON, 0, 0, 10, 3),
                pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=64, velocity=90),
            ]
        )
        await client.cursor(50, 25)
        await client.time_sync()  # answered: the server has read the batch before it
    batches = [m.note_batch for m in fake_server.received if m.WhichOneof("kind") == "note_batch"]
    assert len(batches) == 1
    notes = batches[0].notes
    assert [(n.type, n.key, n.velocity, n.delay_ms, n.channel) for n in notes] == [
        (pb.NOTE_EVENT_TYPE_NOTE_ON, 60, 100, 0, 0),
        (pb.NOTE_EVENT_TYPE_NOTE_OFF, 60, 0, 250, 0),
        (pb.NOTE_EVENT_TYPE_SUSTAIN_ON, 0, 0, 10, 3),
        (pb.NOTE_EVENT_TYPE_NOTE_ON, 64, 90, 0, 0),
    ]
    assert abs(batches[0].start_time - fake_server.now()) < 2_000


async def test_unknown_note_type_is_refused_before_sending(fake_server: FakeServer) -> None:
    async with PianoClient.connect(fake_server.url) as client:
        with pytest.raises(ValueError, match="NOTE_HUM"):
            await client.send_notes([("NOTE_HUM", 60, 100, 0)])


async def test_time_sync_estimates_the_server_clock_offset(fake_server: FakeServer) -> None:
    fake_server.clock_offset_ms = -30_000.0
    async with PianoClient.connect(fake_server.url) as client:
        offset = await client.time_sync()

        assert abs(offset + 30_000) < 500
        assert abs(client.server_now() - fake_server.now()) < 500
        # Replies to probes are consumed by time_sync, not kept as messages.
        assert not [m for m in client.pending() if m.WhichOneof("kind") == "time_sync"]


async def test_json_frames_use_canonical_json_names(fake_server: FakeServer) -> None:
    async with PianoClient.connect(fake_server.url, encoding="json") as client:
        await client.join("lobby", password="pw")
        await client.moderate("KICK", "u-7", reason="spam")
        await client.update_room(max_members=4, chat_enabled=False)
        await client.update_profile(display_name="Ada")
        await client.subscribe_room_list(True)
        await client.leave()
        await client.chat("sync")  # answered: every frame before it has been read
        await client.next_message("chat", timeout=2)
    frames = [json.loads(f) for f in fake_server.raw_frames if '"timeSync"' not in str(f)]
    assert frames[:6] == [
        {"joinRoom": {"roomName": "lobby", "password": "pw", "settings": {}}},
        {"moderate": {"action": "MODERATION_ACTION_KICK", "targetUserId": "u-7", "reason": "spam"}},
        {"updateRoom": {"settings": {"maxMembers": 4, "chatEnabled": False}}},
        {"updateProfile": {"displayName": "Ada"}},
        {"roomList": {"subscribe": True}},
        {"leaveRoom": {}},
    ]


async def test_server_without_subprotocol_gets_json(fake_server: FakeServer) -> None:
    fake_server.subprotocols = []
    async with PianoClient.connect(fake_server.url, encoding="proto") as client:
        assert client.encoding == "json"
        state = await client.join("lobby")
        assert state.room.name == "lobby"
    assert all(isinstance(frame, str) for frame in fake_server.raw_frames)


async def test_garbage_frames_are_logged_not_raised(
    fake_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_server.garbage_after_welcome = True
    with caplog.at_level(logging.WARNING, logger="realtime.client"):
        async with PianoClient.connect(fake_server.url) as client:
            state = await client.join("lobby")

            assert state.room.name == "lobby"
            assert client.bad_frames == 2
    assert "undecodable frame" in caplog.text


async def test_credentials_go_in_headers_and_query(fake_server: FakeServer) -> None:
    async with PianoClient.connect(
        fake_server.url, token="tok.en", origin="http://127.0.0.1", cookies={"sessionid": "abc"}
    ):
        pass
    async with PianoClient.connect(fake_server.url, ticket="t1"):
        pass
    headers = fake_server.headers[0]
    assert headers["Authorization"] == "Bearer tok.en"
    assert headers["Origin"] == "http://127.0.0.1"
    assert headers["Cookie"] == "sessionid=abc"
    assert fake_server.paths[1] == "/ws/?ticket=t1"


async def test_refused_handshake_raises_client_closed_error(fake_server: FakeServer) -> None:
    fake_server.refuse_with = 403
    with pytest.raises(ClientClosedError) as caught:
        await PianoClient.connect(fake_server.url)
    assert caught.value.refused
    assert caught.value.code == 403


async def test_server_close_ends_messages_and_fails_waiting_join(fake_server: FakeServer) -> None:
    client = await PianoClient.connect(fake_server.url)
    try:
        await fake_server.connections[0].close(1012, "restarting")
        seen = [message async for message in client.messages()]

        assert seen == []
        assert client.closed
        assert client.close_code == 1012
        with pytest.raises(ClientClosedError):
            await client.join("lobby")
    finally:
        await client.close()


async def test_reconnect_rejoins_the_last_room(fake_server: FakeServer) -> None:
    client = await PianoClient.connect(fake_server.url)
    try:
        await client.join("lobby")
        await fake_server.connections[0].close(1012, "restarting")
        async with asyncio.timeout(2):
            kept = [message async for message in client.messages()]
        assert client.closed
        assert [m.WhichOneof("kind") for m in kept] == ["chat", "member_joined"]

        await client.reconnect(attempts=3, delay=0.05)

        assert client.session_id == "s2"
        assert client.room is not None
        assert client.room.room.name == "lobby"
    finally:
        await client.close()
    joins = [m.join_room.room_name for m in fake_server.received if m.HasField("join_room")]
    assert joins == ["lobby", "lobby"]


async def test_terminal_play_command_sends_a_chord(fake_server: FakeServer) -> None:
    lines: list[str] = []
    async with PianoClient.connect(fake_server.url) as client:
        terminal = Terminal(client, lines.append)
        terminal.show_room(await client.join("lobby"))

        assert await terminal.handle_line("/play 60 64 67\n")
        assert await terminal.handle_line("hello\n")
        terminal.show(await client.next_message("chat", where=lambda m: m.chat.text == "hello"))
        assert not await terminal.handle_line("/quit\n")
    batch = next(m.note_batch for m in fake_server.received if m.HasField("note_batch"))
    on = [n.key for n in batch.notes if n.type == pb.NOTE_EVENT_TYPE_NOTE_ON]
    assert on == [60, 64, 67]
    assert "♪ you: C4 E4 G4" in lines
    assert "<other> hello" in lines
