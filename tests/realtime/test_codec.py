from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from realtime import codec
from realtime.codec import EncodedMessage, Encoding
from realtime.exceptions import ProtocolError
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

NOW = 1_700_000_000_123.5


def _client_messages() -> list[pb.ClientMessage]:
    """One ClientMessage of every kind, with fields set."""
    settings = pb.RoomSettings(max_members=12, is_public=False, password="", color="#112233")
    return [
        pb.ClientMessage(
            join_room=pb.JoinRoom(
                room_name="Jazz Bar", password="pw", create_if_missing=True, settings=settings
            )
        ),
        pb.ClientMessage(leave_room=pb.LeaveRoom()),
        pb.ClientMessage(
            note_batch=pb.NoteBatch(
                start_time=NOW,
                notes=[
                    pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=60, velocity=90),
                    pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_OFF, key=60, delay_ms=120),
                    pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_SUSTAIN_ON, delay_ms=5, channel=3),
                ],
            )
        ),
        pb.ClientMessage(chat=pb.ChatSend(text="héllo <b>world</b> 🎹")),
        pb.ClientMessage(time_sync=pb.TimeSync(client_time=NOW)),
        pb.ClientMessage(update_room=pb.UpdateRoom(settings=pb.RoomSettings(chat_enabled=False))),
        pb.ClientMessage(
            moderate=pb.Moderate(
                action=pb.MODERATION_ACTION_BAN,
                target_user_id="42",
                duration_seconds=600,
                reason="spam",
            )
        ),
        pb.ClientMessage(cursor=pb.Cursor(x=12.5, y=99.0)),
        pb.ClientMessage(room_list=pb.SubscribeRoomList(subscribe=True)),
        pb.ClientMessage(update_profile=pb.UpdateProfile(display_name="Ada", color="#abcdef")),
    ]


def _server_messages() -> list[pb.ServerMessage]:
    """One ServerMessage of every kind, with fields set."""
    user = pb.UserInfo(
        id="7", username="ada", display_name="Ada", color="#123456", role=pb.ROLE_MEMBER
    )
    member = pb.Member(session_id="s-1", user=user, is_owner=True, joined_at=NOW)
    settings = pb.RoomSettings(
        max_members=20, is_public=True, allow_guests=True, chat_enabled=True, persistent=False
    )
    room = pb.RoomInfo(
        id="0b6e8a52-5d5e-4c39-9d8f-1f6f3c1d2e3f",
        name="lobby",
        settings=settings,
        is_lobby=True,
        member_count=3,
    )
    chat = pb.ChatMessage(
        id="99", session_id="s-1", user_id="7", display_name="Ada", text="<i>hi</i>", sent_at=NOW
    )
    quota = pb.NoteQuota(allowance=200, max=600, interval_ms=2000)
    return [
        pb.ServerMessage(
            welcome=pb.Welcome(
                session_id="s-1", user=user, server_time=NOW, server_version="1", note_quota=quota
            )
        ),
        pb.ServerMessage(room_state=pb.RoomState(room=room, members=[member], recent_chat=[chat])),
        pb.ServerMessage(member_joined=pb.MemberJoined(member=member)),
        pb.ServerMessage(member_left=pb.MemberLeft(session_id="s-2")),
        pb.ServerMessage(member_updated=pb.MemberUpdated(member=member)),
        pb.ServerMessage(
            note_batch=pb.RelayedNotes(
                session_id="s-2",
                start_time=NOW,
                notes=[pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=21, velocity=1)],
            )
        ),
        pb.ServerMessage(chat=chat),
        pb.ServerMessage(room_updated=pb.RoomUpdated(room=room)),
        pb.ServerMessage(
            removed=pb.Removed(reason=pb.REMOVAL_REASON_BANNED, message="bye", until=NOW)
        ),
        codec.error_message("ROOM_FULL", "The room is full.", "join_room"),
        pb.ServerMessage(time_sync=pb.TimeSyncReply(client_time=1.25, server_time=NOW)),
        pb.ServerMessage(
            room_list=pb.RoomList(
                rooms=[pb.RoomSummary(id="r", name="lobby", member_count=3, max_members=30)],
                full=False,
                removed_room_ids=["gone"],
            )
        ),
        pb.ServerMessage(cursor=pb.CursorMoved(session_id="s-2", x=50.25, y=0.5)),
        pb.ServerMessage(note_quota=quota),
        pb.ServerMessage(chat_deleted=pb.ChatDeleted(message_ids=["1", "2"], all=False)),
    ]


CLIENT_MESSAGES = _client_messages()
SERVER_MESSAGES = _server_messages()


def _kind(message: pb.ClientMessage | pb.ServerMessage) -> str:
    return message.WhichOneof("kind") or "none"


def test_samples_cover_every_message_kind() -> None:
    client_kinds = pb.ClientMessage.DESCRIPTOR.oneofs_by_name["kind"].fields
    server_kinds = pb.ServerMessage.DESCRIPTOR.oneofs_by_name["kind"].fields
    assert {_kind(m) for m in CLIENT_MESSAGES} == {f.name for f in client_kinds}
    assert {_kind(m) for m in SERVER_MESSAGES} == {f.name for f in server_kinds}


# --- subprotocol ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (["pianorhythm.v1.json", "pianorhythm.v1.proto"], (Encoding.PROTO, "pianorhythm.v1.proto")),
        (["pianorhythm.v1.proto"], (Encoding.PROTO, "pianorhythm.v1.proto")),
        (["chat", "pianorhythm.v1.json"], (Encoding.JSON, "pianorhythm.v1.json")),
        ([" pianorhythm.v1.json "], (Encoding.JSON, "pianorhythm.v1.json")),
        ([], (Encoding.JSON, None)),
        (["pianorhythm.v2.proto", "mqtt"], (Encoding.JSON, None)),
    ],
)
def test_choose_encoding_prefers_proto_then_json_then_plain_json(
    offered: list[str], expected: tuple[Encoding, str | None]
) -> None:
    assert codec.choose_encoding(offered) == expected


# --- client messages -----------------------------------------------------------------------


@pytest.mark.parametrize("message", CLIENT_MESSAGES, ids=_kind)
def test_client_message_round_trips_in_binary(message: pb.ClientMessage) -> None:
    decoded = codec.decode_client(Encoding.PROTO, None, message.SerializeToString())
    assert decoded == message


@pytest.mark.parametrize("message", CLIENT_MESSAGES, ids=_kind)
def test_client_message_round_trips_in_json(message: pb.ClientMessage) -> None:
    text = json_format.MessageToJson(message)
    decoded = codec.decode_client(Encoding.JSON, text, None)
    assert decoded == message


def test_design_example_join_frame_decodes() -> None:
    decoded = codec.decode_client(Encoding.JSON, '{"joinRoom":{"roomName":"lobby"}}', None)
    assert decoded.WhichOneof("kind") == "join_room"
    assert decoded.join_room.room_name == "lobby"


def test_json_accepts_proto_field_names_and_enum_numbers() -> None:
    # Both are part of the canonical JSON mapping that parsers must accept.
    text = '{"note_batch":{"start_time":1.5,"notes":[{"type":1,"key":60,"delay_ms":3}]}}'
    decoded = codec.decode_client(Encoding.JSON, text, None)
    assert decoded.note_batch.notes[0].type == pb.NOTE_EVENT_TYPE_NOTE_ON
    assert decoded.note_batch.notes[0].delay_ms == 3


def test_binary_decode_drops_unknown_fields_so_they_are_never_relayed() -> None:
    event = pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=60, velocity=64)
    # Field 15, length-delimited, 3 bytes: unknown to this schema.
    event_bytes = event.SerializeToString() + b"\x7a\x03abc"
    batch_bytes = b"\x09" + pb.NoteBatch(start_time=NOW).SerializeToString()[1:]
    batch_bytes += b"\x12" + bytes([len(event_bytes)]) + event_bytes
    frame = b"\x1a" + bytes([len(batch_bytes)]) + batch_bytes

    decoded = codec.decode_client(Encoding.PROTO, None, frame)

    assert decoded.note_batch.notes[0] == event
    relayed = pb.RelayedNotes(session_id="s", notes=decoded.note_batch.notes)
    assert b"abc" not in relayed.SerializeToString()


# Malformed frames: each of these is answered with BAD_MESSAGE.
MALFORMED_JSON = {
    "invalid json": "{joinRoom: {}}",
    "truncated json": '{"joinRoom":{"roomName":"lo',
    "not an object": "[1, 2]",
    "a number": "42",
    "null": "null",
    "empty text": "",
    "no message": "{}",
    "null message": '{"joinRoom":null}',
    "unknown message": '{"dance":{"style":"waltz"}}',
    "unknown field": '{"joinRoom":{"roomName":"lobby","roomId":"x"}}',
    "two messages": '{"joinRoom":{"roomName":"a"},"leaveRoom":{}}',
    "duplicate key": '{"joinRoom":{"roomName":"a","roomName":"b"}}',
    "string is a number": '{"joinRoom":{"roomName":1}}',
    "bool is a string": '{"joinRoom":{"createIfMissing":"true"}}',
    "list is an object": '{"noteBatch":{"startTime":1,"notes":{}}}',
    "null in a list": '{"noteBatch":{"startTime":1,"notes":[null]}}',
    "negative unsigned": '{"noteBatch":{"notes":[{"key":-1}]}}',
    "fractional integer": '{"noteBatch":{"notes":[{"key":1.5}]}}',
    "integer over 32 bits": '{"noteBatch":{"notes":[{"key":4294967296}]}}',
    "unknown enum name": '{"noteBatch":{"notes":[{"type":"NOTE_EXPLODE"}]}}',
    "short enum name": '{"moderate":{"action":"KICK"}}',
    "bare infinity": '{"noteBatch":{"startTime":1e999}}',
    "float out of range": '{"cursor":{"x":1e39}}',
    "unpaired surrogate": '{"chat":{"text":"\\ud800"}}',
    "deep nesting": '{"joinRoom":' * 5000 + "{}" + "}" * 5000,
}


@pytest.mark.parametrize("text", MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
def test_malformed_json_is_a_bad_message(text: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        codec.decode_client(Encoding.JSON, text, None)
    assert caught.value.code == "BAD_MESSAGE"
    assert caught.value.error_code == pb.ERROR_CODE_BAD_MESSAGE
    assert len(caught.value.message) <= 250


_VALID_BINARY = pb.ClientMessage(chat=pb.ChatSend(text="hello there")).SerializeToString()

MALFORMED_BINARY = {
    "empty frame": b"",
    "truncated": _VALID_BINARY[:-3],
    "garbage": b"\xff\xfe\xfd\xfc\xfb\xfa",
    "length past the end": b"\x22\x7f\x0a\x01a",
    "bad utf-8 in a string": b"\x22\x03\x0a\x01\xff",
    "unknown message only": b"\xfa\x01\x00",
    "wrong wire type": b"\x08\x01",
    "json in a binary frame": b'{"leaveRoom":{}}',
}


@pytest.mark.parametrize("data", MALFORMED_BINARY.values(), ids=MALFORMED_BINARY.keys())
def test_malformed_protobuf_is_a_bad_message(data: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        codec.decode_client(Encoding.PROTO, None, data)
    assert caught.value.code == "BAD_MESSAGE"


def test_binary_frame_on_the_json_protocol_is_a_bad_message() -> None:
    with pytest.raises(ProtocolError, match="text frames") as caught:
        codec.decode_client(Encoding.JSON, None, b'{"leaveRoom":{}}')
    assert caught.value.code == "BAD_MESSAGE"


def test_text_frame_on_the_proto_protocol_is_a_bad_message() -> None:
    with pytest.raises(ProtocolError, match="binary frames") as caught:
        codec.decode_client(Encoding.PROTO, '{"leaveRoom":{}}', None)
    assert caught.value.code == "BAD_MESSAGE"


# --- server messages -----------------------------------------------------------------------


def _frame(encoding: Encoding, messages: list[pb.ServerMessage]) -> bytes | str:
    """One frame holding ``messages``, as a socket's writer joins them."""
    return codec.join_encoded(encoding, [EncodedMessage(m) for m in messages])


def test_server_frame_round_trips_in_binary() -> None:
    data = _frame(Encoding.PROTO, SERVER_MESSAGES)
    assert isinstance(data, bytes)
    assert list(pb.ServerFrame.FromString(data).messages) == SERVER_MESSAGES
    assert data == pb.ServerFrame(messages=SERVER_MESSAGES).SerializeToString()


def test_server_frame_round_trips_in_json() -> None:
    text = _frame(Encoding.JSON, SERVER_MESSAGES)
    assert isinstance(text, str)
    frame = json_format.Parse(text, pb.ServerFrame())
    assert list(frame.messages) == SERVER_MESSAGES


def test_json_frame_is_compact_canonical_json() -> None:
    relayed = pb.ServerMessage(
        note_batch=pb.RelayedNotes(
            session_id="s-2",
            start_time=NOW,
            notes=[pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=60, velocity=100)],
        )
    )
    text = _frame(Encoding.JSON, [relayed])
    assert text == (
        '{"messages":[{"noteBatch":{"sessionId":"s-2","startTime":1700000000123.5,'
        '"notes":[{"type":"NOTE_EVENT_TYPE_NOTE_ON","key":60,"velocity":100}]}}]}'
    )


def test_json_frame_keeps_text_as_data() -> None:
    chat = pb.ServerMessage(chat=pb.ChatMessage(text='</script><script>alert("x")</script> 🎹'))
    text = _frame(Encoding.JSON, [chat])
    assert json.loads(text)["messages"][0]["chat"]["text"] == (
        '</script><script>alert("x")</script> 🎹'
    )


def test_large_message_gets_a_multibyte_length_prefix() -> None:
    notes = [
        pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=k % 128, velocity=1) for k in range(300)
    ]
    big = pb.ServerMessage(note_batch=pb.RelayedNotes(session_id="s", notes=notes))
    encoded = EncodedMessage(big)
    assert encoded.proto_frame == pb.ServerFrame(messages=[big]).SerializeToString()


def test_error_message_names_code_and_request() -> None:
    message = codec.error_message("WRONG_PASSWORD", "Wrong password.", "join_room")
    assert json_format.MessageToDict(message) == {
        "error": {
            "code": "ERROR_CODE_WRONG_PASSWORD",
            "message": "Wrong password.",
            "request": "join_room",
        }
    }


def test_unknown_error_code_name_fails_loudly() -> None:
    with pytest.raises(ValueError, match="NOT_A_CODE"):
        ProtocolError("NOT_A_CODE", "typo")
    with pytest.raises(ValueError, match="NOT_A_CODE"):
        codec.error_message("NOT_A_CODE", "typo")


# --- encode once, join later ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", list(Encoding))
def test_joined_frames_hold_every_message_in_order(encoding: Encoding) -> None:
    encoded = [EncodedMessage(m) for m in SERVER_MESSAGES]
    frame = codec.join_encoded(encoding, encoded)
    if encoding is Encoding.PROTO:
        assert isinstance(frame, bytes)
        decoded = pb.ServerFrame.FromString(frame)
    else:
        assert isinstance(frame, str)
        decoded = json_format.Parse(frame, pb.ServerFrame())
    assert list(decoded.messages) == SERVER_MESSAGES


def test_join_frames_concatenates_single_message_frames() -> None:
    parts = [EncodedMessage(m).proto_frame for m in SERVER_MESSAGES[:4]]
    joined = codec.join_frames(parts)
    assert list(pb.ServerFrame.FromString(joined).messages) == SERVER_MESSAGES[:4]


def test_join_json_messages_builds_one_frame() -> None:
    parts = [EncodedMessage(m).json_message for m in SERVER_MESSAGES[:4]]
    joined = codec.join_json_messages(parts)
    assert list(json_format.Parse(joined, pb.ServerFrame()).messages) == SERVER_MESSAGES[:4]
    assert codec.join_json_messages([]) == '{"messages":[]}'


@pytest.mark.parametrize("encoding", list(Encoding))
def test_single_message_frame_is_the_server_frame_of_that_message(encoding: Encoding) -> None:
    message = SERVER_MESSAGES[5]
    frame = codec.join_encoded(encoding, [EncodedMessage(message)])
    if encoding is Encoding.PROTO:
        assert frame == pb.ServerFrame(messages=[message]).SerializeToString()
    else:
        assert isinstance(frame, str)
        assert list(json_format.Parse(frame, pb.ServerFrame()).messages) == [message]


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    original: Callable[..., Any] = getattr(codec, name)

    def counted(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(codec, name, counted)
    return calls


def test_broadcast_encodes_each_message_once_per_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    proto_calls = _counting(monkeypatch, "_proto_frame")
    json_calls = _counting(monkeypatch, "_json_message")
    encoded = EncodedMessage(SERVER_MESSAGES[5])
    assert (proto_calls, json_calls) == ([], [])  # lazy: nothing until someone needs it

    # A hundred recipients, half on each encoding, some coalescing with another message.
    other = EncodedMessage(SERVER_MESSAGES[3])
    frames = []
    for recipient in range(100):
        encoding = Encoding.PROTO if recipient % 2 else Encoding.JSON
        if recipient % 3:
            frames.append(codec.join_encoded(encoding, [encoded]))
        else:
            frames.append(codec.join_encoded(encoding, [other, encoded]))

    assert len(proto_calls) == 2  # `encoded` and `other`, once each
    assert len(json_calls) == 2
    assert encoded.proto_frame is encoded.proto_frame
    assert encoded.json_message is encoded.json_message
    assert frames[1] == frames[5]


def test_json_only_room_never_encodes_protobuf(monkeypatch: pytest.MonkeyPatch) -> None:
    proto_calls = _counting(monkeypatch, "_proto_frame")
    encoded = EncodedMessage(SERVER_MESSAGES[0])
    for _ in range(10):
        codec.join_encoded(Encoding.JSON, [encoded])
    assert proto_calls == []


# --- JSON frames that would cost the event loop (hardening, red team 3) ----------------------

_events = st.builds(
    pb.NoteEvent,
    type=st.sampled_from(list(pb.NoteEventType.values())),
    key=st.integers(0, 2**32 - 1),
    velocity=st.integers(0, 2**32 - 1),
    delay_ms=st.integers(0, 2**32 - 1),
    channel=st.integers(0, 2**32 - 1),
)


@given(
    start=st.floats(allow_nan=False, width=64),
    notes=st.lists(_events, max_size=codec.MAX_NOTES_PER_BATCH),
    names=st.booleans(),
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_json_note_batches_decode_as_protobufs_json_parser_reads_them(
    start: float, notes: list[pb.NoteEvent], names: bool
) -> None:
    message = pb.ClientMessage(note_batch=pb.NoteBatch(start_time=start, notes=notes))
    text = json_format.MessageToJson(
        message, preserving_proto_field_name=names, indent=None, use_integers_for_enums=names
    )
    expected = json_format.Parse(text, pb.ClientMessage())
    assert codec.decode_client(Encoding.JSON, text, None) == expected == message


def test_a_json_note_batch_skips_protobufs_slow_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    note = '{"type":"NOTE_EVENT_TYPE_NOTE_ON","key":60,"velocity":90,"delayMs":5}'
    text = '{"noteBatch":{"startTime":1.5,"notes":[' + ",".join([note] * 300) + "]}}"
    expected = json_format.Parse(text, pb.ClientMessage())

    def slow_parser(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("protobuf's JSON parser was used")

    monkeypatch.setattr(json_format, "Parse", slow_parser)
    monkeypatch.setattr(json_format, "ParseDict", slow_parser)
    assert codec.decode_client(Encoding.JSON, text, None) == expected


@pytest.mark.parametrize(
    "text",
    [
        # 64 KiB of empty notes: refused before any JSON is parsed.
        '{"noteBatch":{"notes":[' + ",".join(["{}"] * 21_700) + "]}}",
        # One event over the bound.
        '{"noteBatch":{"notes":[' + ",".join(["{}"] * 301) + "]}}",
        # A small message padded with a large array it does not have.
        '{"chat":{"text":"hi"},"x":[' + ",".join(["{}"] * 2_000) + "]}",
        '{"chat":{"text":"hi"},"x":' + "[" * 5_000 + "]" * 5_000 + "}",
    ],
    ids=["64 KiB of empty notes", "301 notes", "padding", "deep padding"],
)
def test_json_frames_too_large_to_be_legal_are_refused_unparsed(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parser(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed")

    monkeypatch.setattr(json_format, "Parse", parser)
    monkeypatch.setattr(json_format, "ParseDict", parser)
    with pytest.raises(ProtocolError) as caught:
        codec.decode_client(Encoding.JSON, text, None)
    assert caught.value.code == "BAD_MESSAGE"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"noteBatch":{"notes":[{"key":"60"}]}}', "notes[0].key must be a whole number"),
        ('{"noteBatch":{"notes":[{"key":60.5}]}}', "notes[0].key must be a whole number"),
        ('{"noteBatch":{"notes":[{"key":-1}]}}', "notes[0].key must be a whole number"),
        ('{"noteBatch":{"notes":[{"key":true}]}}', "notes[0].key must be a whole number"),
        ('{"noteBatch":{"notes":[{"type":"NOTE_ON"}]}}', "notes[0].type must be"),
        ('{"noteBatch":{"notes":[{"type":9}]}}', "notes[0].type is not a note event type"),
        ('{"noteBatch":{"notes":[{"pitch":60}]}}', "notes[0] has an unknown or repeated field"),
        ('{"noteBatch":{"notes":[{"delayMs":1,"delay_ms":2}]}}', "unknown or repeated"),
        ('{"noteBatch":{"notes":[7]}}', "notes[0] must be an object"),
        ('{"noteBatch":{"notes":{}}}', "notes must be an array"),
        ('{"noteBatch":{"startTime":"1"}}', "startTime must be one number"),
        ('{"noteBatch":{"tempo":1}}', "has no field 'tempo'"),
        ('{"noteBatch":[]}', "must be an object"),
    ],
)
def test_a_malformed_json_note_batch_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        codec.decode_client(Encoding.JSON, text, None)
    assert caught.value.code == "BAD_MESSAGE"
    assert says in caught.value.message
