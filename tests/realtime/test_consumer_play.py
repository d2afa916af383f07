"""Note batches and chat through the full ASGI application: relay, validation, quotas, room
rules (docs/protocol.md, noteBatch and chat; docs/security.md)."""

from __future__ import annotations

import math
import time

import pytest

from foundation.db import database_sync_to_async
from realtime import codec
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from rooms.models import ChatMessage, Room
from tests.realtime.conftest import Connect, ConnectUser, Player

in_thread = database_sync_to_async

NOTE_ON = pb.NOTE_EVENT_TYPE_NOTE_ON
NOTE_OFF = pb.NOTE_EVENT_TYPE_NOTE_OFF


def now_ms() -> float:
    return time.time() * 1000


def notes(count: int, key: int = 60) -> list[pb.NoteEvent]:
    return [
        pb.NoteEvent(type=NOTE_ON, key=key, velocity=80, delay_ms=n % 1000) for n in range(count)
    ]


async def play(player: Player, events: list[pb.NoteEvent], start_time: float | None = None) -> None:
    start = now_ms() if start_time is None else start_time
    await player.send(note_batch=pb.NoteBatch(start_time=start, notes=events))


async def refused(player: Player, **message: object) -> pb.Error:
    await player.send(**message)
    error: pb.Error = await player.expect("error")
    return error


async def relayed(player: Player, seconds: float = 0.2) -> list[pb.RelayedNotes]:
    return [m.note_batch for m in await player.drain(seconds) if m.HasField("note_batch")]


@in_thread
def new_room(name: str, **fields: object) -> Room:
    return Room.objects.create(name=name, persistent=True, **fields)


@in_thread
def stored_chat(text: str | None = None) -> list[str]:
    lines = ChatMessage.objects.order_by("id")
    if text is not None:
        lines = lines.filter(text=text)
    return list(lines.values_list("text", flat=True))


async def pair(connect: Connect, room: str = "lobby") -> tuple[Player, Player]:
    alice, bob = await connect(), await connect(encoding=codec.Encoding.JSON)
    await alice.join(room)
    await bob.join(room)
    await alice.expect("member_joined")
    return alice, bob


# --- notes ------------------------------------------------------------------------------------


async def test_note_batch_is_relayed_unchanged_to_others_in_order(connect: Connect) -> None:
    alice, bob = await pair(connect)
    carol = await connect()
    await carol.join()
    start = now_ms()
    first = [pb.NoteEvent(type=NOTE_ON, key=60, velocity=100, delay_ms=5, channel=2)]
    second = [pb.NoteEvent(type=NOTE_OFF, key=60, delay_ms=10)]
    await play(alice, first, start)
    await play(alice, second, start + 50)
    for listener in (bob, carol):
        batches = await relayed(listener)
        assert [b.session_id for b in batches] == [alice.session_id] * 2
        assert [list(b.notes) for b in batches] == [first, second]
        assert [b.start_time for b in batches] == [start, start + 50]
    assert await relayed(alice) == []


async def test_out_of_range_notes_are_clamped_or_dropped_never_relayed_as_given(
    connect: Connect,
) -> None:
    alice, bob = await pair(connect)
    events = [
        pb.NoteEvent(type=NOTE_ON, key=300, velocity=100),
        pb.NoteEvent(type=NOTE_ON, key=61, velocity=999, delay_ms=10**9, channel=99),
        pb.NoteEvent(type=NOTE_ON, key=62, velocity=0),
        pb.NoteEvent(type=99, key=63, velocity=10),  # type: ignore[arg-type]
    ]
    far_future = now_ms() + 10**9
    await play(alice, events, far_future)
    (batch,) = await relayed(bob)
    assert list(batch.notes) == [
        pb.NoteEvent(type=NOTE_ON, key=61, velocity=127, delay_ms=1000, channel=15),
        pb.NoteEvent(type=NOTE_OFF, key=62, velocity=0),
    ]
    # A start time far from the server clock is replaced by "now".
    assert abs(batch.start_time - now_ms()) < 5_000


@pytest.mark.parametrize("start_time", [math.nan, math.inf, -math.inf, 0.0, -5.0])
async def test_note_batch_with_an_unusable_start_time_is_refused(
    connect: Connect, start_time: float
) -> None:
    alice, bob = await pair(connect)
    await alice.send(note_batch=pb.NoteBatch(start_time=start_time, notes=notes(1)))
    error = await alice.expect("error")
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert error.request == "note_batch"
    assert await relayed(bob, 0.1) == []


@pytest.mark.parametrize("count", [301, 5000])
async def test_oversized_note_batch_is_refused(connect: Connect, count: int) -> None:
    alice, bob = await pair(connect)
    await play(alice, notes(count))
    error = await alice.expect("error")
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert await relayed(bob, 0.1) == []


async def test_notes_over_quota_are_dropped(connect: Connect) -> None:
    alice, bob = await pair(connect)  # lobby: 200 per 2 s, burst 600
    for _ in range(4):
        await play(alice, notes(300))
    batches = await relayed(bob, 0.3)
    total = sum(len(b.notes) for b in batches)
    # The burst, plus what the bucket refilled (100 a second) while the batches arrived.
    assert 600 <= total < 620
    assert len(batches[0].notes) == len(batches[1].notes) == 300


async def test_unlimited_notes_room_relays_everything(connect: Connect) -> None:
    await new_room("free play", unlimited_notes=True)
    alice, bob = await pair(connect, "free play")
    for _ in range(5):
        await play(alice, notes(300))
    batches = await relayed(bob, 0.3)
    assert sum(len(b.notes) for b in batches) == 1500


async def test_only_the_owner_plays_where_only_owner_can_play(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("recital", create_if_missing=True)
    change = pb.RoomSettings(only_owner_can_play=True)
    await owner.send(update_room=pb.UpdateRoom(settings=change))
    await owner.expect("room_updated")
    guest = await connect()
    await guest.join("recital")
    await play(guest, notes(1))
    error = await guest.expect("error")
    assert error.code == pb.ERROR_CODE_FORBIDDEN
    assert await relayed(owner, 0.1) == []
    await play(owner, notes(2))
    (batch,) = await relayed(guest)
    assert len(batch.notes) == 2


async def test_room_named_in_the_payload_is_ignored(connect: Connect) -> None:
    """The room is the socket's server-side state; a client cannot name
    another room in a note batch or chat (the protocol has no such field, and unknown fields
    are dropped)."""
    await new_room("elsewhere")
    alice, bob = await pair(connect)
    outsider = await connect()
    await outsider.join("elsewhere")
    # NoteBatch with an extra length-delimited field 99 naming the other room, as a client
    # that hopes for a room_id field would send it; on the JSON socket, a roomId key.
    inner = pb.NoteBatch(start_time=now_ms(), notes=notes(1)).SerializeToString()
    inner += b"\x9a\x06\x09elsewhere"
    await alice.ws.send_to(bytes_data=b"\x1a" + bytes([len(inner)]) + inner)
    assert len(await relayed(bob, 0.2)) == 1
    await bob.ws.send_to(text_data='{"chat": {"text": "hi", "roomId": "elsewhere"}}')
    assert (await bob.expect("error")).code == pb.ERROR_CODE_BAD_MESSAGE
    heard = await outsider.drain(0.2)
    assert [m for m in heard if m.HasField("note_batch") or m.HasField("chat")] == []
    # A player in no room cannot play or chat anywhere.
    loner = await connect()
    error = await refused(loner, note_batch=pb.NoteBatch(start_time=now_ms(), notes=notes(1)))
    assert error.code == pb.ERROR_CODE_NOT_IN_ROOM
    error = await refused(loner, chat=pb.ChatSend(text="hello?"))
    assert error.code == pb.ERROR_CODE_NOT_IN_ROOM
    assert await relayed(outsider, 0.1) == []


# --- chat ---------------------------------------------------------------------------------


async def test_chat_is_stored_and_sent_to_everyone(connect: Connect) -> None:
    alice, bob = await pair(connect)
    await alice.send(chat=pb.ChatSend(text="  hello there  "))
    for player in (alice, bob):
        line = await player.expect("chat")
        assert (line.text, line.session_id) == ("hello there", alice.session_id)
        assert line.user_id == (alice.user.id if alice.user else "")
        assert line.display_name.startswith("Guest-")
    assert await stored_chat() == ["hello there"]


async def test_chat_rate_is_four_per_four_seconds(connect: Connect) -> None:
    alice, bob = await pair(connect)
    for n in range(4):
        await alice.send(chat=pb.ChatSend(text=f"msg {n}"))
    error = await refused(alice, chat=pb.ChatSend(text="one too many"))
    assert error.code == pb.ERROR_CODE_RATE_LIMITED
    assert error.request == "chat"
    lines = [m.chat.text for m in await bob.drain(0.2) if m.HasField("chat")]
    assert lines == [f"msg {n}" for n in range(4)]
    assert await stored_chat() == lines


async def test_room_owner_may_chat_ten_times_in_four_seconds(connect_user: ConnectUser) -> None:
    owner = await connect_user()
    await owner.join("talk show", create_if_missing=True)
    for n in range(10):
        await owner.send(chat=pb.ChatSend(text=f"msg {n}"))
    error = await refused(owner, chat=pb.ChatSend(text="eleven"))
    assert error.code == pb.ERROR_CODE_RATE_LIMITED
    assert len(await stored_chat()) == 10


async def test_chat_disabled_refuses_members_but_not_the_owner(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    settings = pb.RoomSettings(chat_enabled=False)
    await owner.join("quiet", create_if_missing=True, settings=settings)
    guest = await connect()
    await guest.join("quiet")
    error = await refused(guest, chat=pb.ChatSend(text="psst"))
    assert error.code == pb.ERROR_CODE_CHAT_DISABLED
    await owner.send(chat=pb.ChatSend(text="announcement"))
    assert (await guest.expect("chat")).text == "announcement"
    assert await stored_chat() == ["announcement"]


async def test_owner_only_chat_refuses_members(connect: Connect, connect_user: ConnectUser) -> None:
    owner = await connect_user()
    settings = pb.RoomSettings(only_owner_can_chat=True)
    await owner.join("lecture", create_if_missing=True, settings=settings)
    guest = await connect()
    await guest.join("lecture")
    error = await refused(guest, chat=pb.ChatSend(text="question"))
    assert error.code == pb.ERROR_CODE_FORBIDDEN
    assert await stored_chat() == []


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "&lt;b&gt; & \"quotes\" 'single'",
        "🎹" * 500,
        "👨‍👩‍👧 family",
        "Ω ∑ 中文 العربية",
    ],
    ids=["script", "img", "entities", "500-emoji", "zwj-emoji", "scripts"],
)
async def test_chat_text_is_stored_and_sent_as_data(connect: Connect, text: str) -> None:
    alice, bob = await pair(connect)
    await alice.send(chat=pb.ChatSend(text=text))
    assert (await bob.expect("chat")).text == text
    assert await stored_chat() == [text]


async def test_zero_width_characters_are_removed_from_chat(connect: Connect) -> None:
    alice, bob = await pair(connect)
    await alice.send(chat=pb.ChatSend(text="he\u200bllo\ufeff"))
    assert (await bob.expect("chat")).text == "hello"
    assert await stored_chat() == ["hello"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\u200b\u200b",
        "x" * 501,
        "🎹" * 10_000,
        "evil\u202etxt.exe",
        "isolate \u2067x\u2069",
        "bell\x07",
        "null\x00byte",
        "escape \x1b[31mred",
    ],
    ids=[
        "empty",
        "spaces",
        "only-zero-width",
        "501-chars",
        "10k-emoji",
        "rtl-override",
        "rtl-isolate",
        "bell",
        "nul",
        "ansi-escape",
    ],
)
async def test_bad_chat_text_is_refused_and_not_stored(connect: Connect, text: str) -> None:
    alice, bob = await pair(connect)
    error = await refused(alice, chat=pb.ChatSend(text=text))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert error.request == "chat"
    assert "chat" not in [m.WhichOneof("kind") for m in await bob.drain(0.1)]
    assert await stored_chat() == []


@pytest.mark.parametrize(
    "name",
    ["evil\u202eeman", "zero\u200bwidth", "ctrl\x07", "🎹" * 10_000, "x" * 33],
    ids=["rtl-override", "zero-width", "control", "10k-emoji", "too-long"],
)
async def test_bad_display_names_are_refused(
    connect: Connect, connect_user: ConnectUser, name: str
) -> None:
    alice = await connect_user()
    await alice.join()
    error = await refused(alice, update_profile=pb.UpdateProfile(display_name=name))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert alice.account is not None
    await in_thread(alice.account.refresh_from_db)()
    assert alice.account.display_name == ""


async def test_display_name_with_markup_is_stored_and_sent_as_data(
    connect: Connect, connect_user: ConnectUser
) -> None:
    alice = await connect_user()
    bob = await connect()
    await alice.join()
    await bob.join()
    await alice.send(update_profile=pb.UpdateProfile(display_name="<b>Al</b>"))
    updated = await bob.expect("member_updated")
    assert updated.member.user.display_name == "<b>Al</b>"
    await alice.send(chat=pb.ChatSend(text="hi"))
    assert (await bob.expect("chat")).display_name == "<b>Al</b>"
