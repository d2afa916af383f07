"""No server frame passes the WebSocket message limit, whatever is queued or stored, and a
send that fails closes the socket and frees its seat (hardening issue, item 1).

Property tests over the framing, then the largest legal inputs of every message that can
grow (a room's state, the room list, queued note batches, deleted chat), then the writer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime import codec, messages, receivers
from realtime.codec import EncodedMessage, Encoding
from realtime.exceptions import ClientGoneError
from realtime.identity import guest_identity
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.runtime import current_runtime
from realtime.session import OUTBOX_LIMIT, PlayerSession
from rooms import room_settings, rules
from tests.realtime.conftest import Connect
from users import rules as user_rules

LIMIT = 65536
WIDE = "\U0001f3b9"  # a piano: four bytes in UTF-8


def decode(encoding: Encoding, frame: bytes | str) -> list[pb.ServerMessage]:
    if encoding is Encoding.PROTO:
        assert isinstance(frame, bytes)
        return list(pb.ServerFrame.FromString(frame).messages)
    assert isinstance(frame, str)
    return list(json_format.Parse(frame, pb.ServerFrame()).messages)


def wire_size(frame: bytes | str) -> int:
    return len(frame.encode() if isinstance(frame, str) else frame)


def assert_fits(encoding: Encoding, batch: Sequence[EncodedMessage], limit: int = LIMIT) -> None:
    """Every frame of ``batch`` fits in ``limit`` and the frames hold exactly ``batch``."""
    frames, too_large = codec.join_within(encoding, batch, limit)
    assert too_large == []
    assert all(wire_size(frame) <= limit for frame in frames)
    received = [m for frame in frames for m in decode(encoding, frame)]
    assert received == [m.message for m in batch]


# --- the framing, as a property --------------------------------------------------------------

texts = st.text(min_size=1, max_size=rules.CHAT_MAX_LENGTH)
chat_lines = st.builds(
    lambda text, n: pb.ServerMessage(
        chat=pb.ChatMessage(id=str(n), user_id="1", display_name="n", text=text, sent_at=1.0)
    ),
    texts,
    st.integers(min_value=1, max_value=2**62),
)
note_batches = st.builds(
    lambda count: pb.ServerMessage(
        note_batch=pb.RelayedNotes(
            session_id="0123456789abcdef",
            start_time=1.7e12,
            notes=[
                pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=127, velocity=127, delay_ms=1000)
            ]
            * count,
        )
    ),
    st.integers(min_value=0, max_value=300),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(chat_lines, note_batches), max_size=40),
    st.sampled_from(list(Encoding)),
    st.sampled_from([LIMIT, 100_000]),
)
def test_frames_never_pass_the_limit_and_hold_every_message_in_order(
    batch: list[pb.ServerMessage], encoding: Encoding, limit: int
) -> None:
    assert_fits(encoding, [EncodedMessage(m) for m in batch], limit)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_a_message_no_frame_can_hold_is_reported_not_sent(encoding: Encoding) -> None:
    small = EncodedMessage(pb.ServerMessage(chat=pb.ChatMessage(text="hi")))
    huge = EncodedMessage(pb.ServerMessage(chat=pb.ChatMessage(text="x" * 5000)))
    frames, too_large = codec.join_within(encoding, [small, huge, small], 1024)
    assert too_large == [huge]
    assert [m for f in frames for m in decode(encoding, f)] == [small.message, small.message]


# --- the largest legal inputs --------------------------------------------------------------


def widest_member(n: int) -> pb.Member:
    return pb.Member(
        session_id=f"{n:016x}",
        user=pb.UserInfo(
            id=f"g-{n:016x}",
            username="u" * user_rules.USERNAME_MAX,
            display_name=WIDE * user_rules.DISPLAY_NAME_MAX,
            color="#abcdef",
            role=pb.ROLE_MODERATOR,
            is_guest=True,
        ),
        is_owner=True,
        muted=True,
        joined_at=1.7e12,
    )


def widest_room() -> pb.RoomInfo:
    return pb.RoomInfo(
        id="0" * 36,
        name=WIDE * rules.NAME_MAX_LENGTH,
        settings=pb.RoomSettings(
            max_members=room_settings.MAX_MEMBERS,
            is_public=True,
            allow_guests=True,
            chat_enabled=True,
            only_owner_can_play=True,
            only_owner_can_chat=True,
            unlimited_notes=True,
            welcome_message=WIDE * room_settings.WELCOME_MAX_LENGTH,
            color="#abcdef",
            persistent=True,
        ),
        owner_user_id="9" * 19,
        is_lobby=True,
        has_password=True,
        member_count=room_settings.MAX_MEMBERS,
    )


def widest_chat(n: int) -> pb.ChatMessage:
    return pb.ChatMessage(
        id=str(2**62 + n),
        session_id="f" * 16,
        user_id="9" * 19,
        display_name=WIDE * 64,
        text=WIDE * rules.CHAT_MAX_LENGTH,
        sent_at=1.7e12,
    )


@pytest.mark.parametrize("encoding", list(Encoding))
def test_the_fullest_room_state_fits_and_keeps_its_whole_history(encoding: Encoding) -> None:
    members = [widest_member(n) for n in range(room_settings.MAX_MEMBERS)]
    chat = [widest_chat(n) for n in range(50)]
    sent = messages.room_state_messages(encoding, LIMIT, widest_room(), members, chat)
    assert_fits(encoding, sent)
    state = sent[0].message.room_state
    assert list(state.members) == members
    history = [*state.recent_chat, *(m.message.chat for m in sent[1:])]
    assert history == chat
    assert 0 < len(state.recent_chat) < 50  # it did have to split


@pytest.mark.parametrize("encoding", list(Encoding))
def test_an_ordinary_room_state_is_one_message(encoding: Encoding) -> None:
    chat = [pb.ChatMessage(id=str(n), display_name="a", text="hello") for n in range(50)]
    sent = messages.room_state_messages(encoding, LIMIT, pb.RoomInfo(name="r"), [], chat)
    assert len(sent) == 1
    assert list(sent[0].message.room_state.recent_chat) == chat


@pytest.mark.parametrize("encoding", list(Encoding))
def test_a_full_outbox_of_the_largest_note_batches_leaves_in_frames_that_fit(
    encoding: Encoding,
) -> None:
    notes = [
        pb.NoteEvent(
            type=pb.NOTE_EVENT_TYPE_SUSTAIN_OFF, key=127, velocity=127, delay_ms=1000, channel=15
        )
    ] * 300
    batch = EncodedMessage(
        pb.ServerMessage(
            note_batch=pb.RelayedNotes(session_id="f" * 16, start_time=1.7e12, notes=notes)
        )
    )
    assert_fits(encoding, [batch] * 50)
    frames, _ = codec.join_within(encoding, [batch] * OUTBOX_LIMIT, LIMIT)
    assert all(wire_size(frame) <= LIMIT for frame in frames)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_deleting_ten_thousand_chat_lines_is_announced_in_messages_that_fit(
    encoding: Encoding,
) -> None:
    ids = [2**62 + n for n in range(10_000)]
    announced = [EncodedMessage(m) for m in receivers.chat_deleted_messages(ids)]
    assert_fits(encoding, announced)
    assert [i for m in announced for i in m.message.chat_deleted.message_ids] == [
        str(i) for i in ids
    ]


# --- the writer --------------------------------------------------------------------------------


class Socket:
    """What a session writes to: frames kept, and a send that can be made to fail."""

    def __init__(self) -> None:
        self.frames: list[bytes | str] = []
        self.closed_with: int | None = None
        self.fail = False

    async def send(self, frame: bytes | str) -> None:
        if self.fail:
            raise RuntimeError("tried to send WebSocket message exceeding payload limit")
        self.frames.append(frame)

    async def close(self, code: int) -> None:
        self.closed_with = code


def session_on(socket: Socket, encoding: Encoding, departed: list[str]) -> PlayerSession:
    async def depart(session: PlayerSession) -> None:
        departed.append(session.session_id)

    async def no_control(*_: Any) -> None:
        return None

    runtime: Any = SimpleNamespace(frame_limit=LIMIT)
    return PlayerSession(
        guest_identity("g-0123456789abcdef"),
        encoding,
        runtime,
        socket.send,
        socket.close,
        no_control,
        on_broken=depart,
    )


@pytest.mark.parametrize("encoding", list(Encoding))
async def test_queued_batches_coalesce_only_up_to_the_limit(encoding: Encoding) -> None:
    socket, departed = Socket(), list[str]()
    session = session_on(socket, encoding, departed)
    notes = [pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=60, velocity=90)] * 300
    batch = pb.ServerMessage(note_batch=pb.RelayedNotes(session_id="s", notes=notes))
    for _ in range(40):  # queued before the writer runs, as a busy loop would
        session.deliver(EncodedMessage(batch))
    session.start()
    await asyncio.sleep(0.05)
    assert all(wire_size(frame) <= LIMIT for frame in socket.frames)
    received = [m for frame in socket.frames for m in decode(encoding, frame)]
    assert received == [batch] * 40
    assert len(socket.frames) > 1
    session.stop()


async def test_a_failed_send_closes_the_socket_and_frees_the_seat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    socket, departed = Socket(), list[str]()
    session = session_on(socket, Encoding.JSON, departed)
    session.start()
    socket.fail = True
    session.send(pb.ServerMessage(chat=pb.ChatMessage(text="anyone?")))
    await asyncio.sleep(0.05)
    assert socket.closed_with == 1011
    assert departed == [session.session_id]
    assert session.closed
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("send failed" in r.getMessage() for r in warnings)


async def test_a_broken_socket_leaves_its_room_while_the_others_play_on(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob = await connect(), await connect()
    await alice.join()
    await bob.join()
    await alice.drain(0.05)
    runtime = current_runtime()
    assert runtime is not None
    (session,) = [s for s in runtime.hub.local_sockets() if s.session_id == bob.session_id]
    assert isinstance(session, PlayerSession)

    async def refused(frame: bytes | str) -> None:
        raise RuntimeError("the interface server refused the frame")

    session._send_frame = refused  # as Daphne does for a frame over its limit
    await alice.send(chat=pb.ChatSend(text="hello bob"))
    assert await bob.expect_close(timeout=2) == 1011
    # Gone from the room at once, without waiting for the client to finish closing.
    left = await alice.expect("member_left", timeout=2)
    assert left.session_id == bob.session_id
    assert any("send failed" in r.getMessage() for r in caplog.records)


async def test_a_client_that_left_is_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    socket, departed = Socket(), list[str]()
    session = session_on(socket, Encoding.PROTO, departed)
    session.start()

    async def gone(frame: bytes | str) -> None:
        raise ClientGoneError("Attempt to send on a closed protocol")

    session._send_frame = gone
    session.send(pb.ServerMessage(chat=pb.ChatMessage(text="bye")))
    await asyncio.sleep(0.05)
    assert departed == [session.session_id]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
