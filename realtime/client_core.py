"""The protocol core of every client of protocol v1, with no transport of its own.

What a client needs whatever carries its frames: the subprotocol names, building
``ClientMessage``s and encoding them as binary protobuf or canonical JSON, decoding a server's
``ServerFrame`` into its ``ServerMessage``s, the errors a client raises, and the state a client
keeps (who it is, the room it is in, the server's clock). Three clients share it: the SDK
(``realtime.client``, over ``websockets``), the tests' ``Player`` (over Channels'
``WebsocketCommunicator``) and the load generator (``bench.loadgen``, over picows), so the
three cannot drift from one another or from the protocol.

``note_on_batch_frame`` and ``parse_server_frame`` are the load generator's hot path: they
take the short way (for JSON, around protobuf's slow JSON mapping) and must stay that lean.

Standalone: no Django, no I/O; only the generated protocol code.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, TypeAlias

from google.protobuf import json_format
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import DecodeError

from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

PROTO_SUBPROTOCOL = "pianorhythm.v1.proto"
JSON_SUBPROTOCOL = "pianorhythm.v1.json"

EncodingName: TypeAlias = Literal["proto", "json"]
#: The WebSocket subprotocol that asks for each encoding.
SUBPROTOCOLS: dict[str, str] = {"proto": PROTO_SUBPROTOCOL, "json": JSON_SUBPROTOCOL}
#: A note as ``(type, key, velocity, delay_ms)`` or ``(type, key, velocity, delay_ms,
#: channel)``; ``type`` is a ``NoteEventType`` value or name ("NOTE_ON" or
#: "NOTE_EVENT_TYPE_NOTE_ON").
NoteTuple: TypeAlias = tuple[int | str, int, int, int] | tuple[int | str, int, int, int, int]
NoteLike: TypeAlias = pb.NoteEvent | NoteTuple
SettingValue: TypeAlias = int | bool | str

#: Clock samples kept; the offset comes from the one with the shortest round trip.
CLOCK_SAMPLES = 8
_NOTE_ON_JSON = "NOTE_EVENT_TYPE_NOTE_ON"


class ClientError(Exception):
    """The server answered a request with ``error``.

    ``code`` is the ErrorCode short name ("ROOM_FULL", "WRONG_PASSWORD", ...), ``request``
    the ClientMessage field that failed ("join_room").
    """

    def __init__(self, code: str, message: str, request: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request = request

    @classmethod
    def from_error(cls, error: pb.Error) -> ClientError:
        return cls(
            short_name(pb.ErrorCode, "ERROR_CODE_", error.code), error.message, error.request
        )


class ClientClosedError(ConnectionError):
    """The connection is closed (or was refused during the handshake).

    ``code`` is the WebSocket close code (1012: server restarting, retry; 4403: site-banned;
    ...), or the HTTP status of a refused handshake with ``refused`` set; ``None`` when the
    connection dropped without a close frame.
    """

    def __init__(self, code: int | None, reason: str = "", *, refused: bool = False) -> None:
        what = "handshake refused" if refused else "connection closed"
        super().__init__(f"{what} ({code}): {reason}" if reason else f"{what} ({code})")
        self.code = code
        self.reason = reason
        self.refused = refused


# --- enums and notes ------------------------------------------------------------------------


def short_name(enum_type: EnumTypeWrapper, prefix: str, value: int) -> str:
    """An enum value's name without its prefix ("ROOM_FULL"), or its number if unknown."""
    try:
        return enum_type.Name(value).removeprefix(prefix)
    except ValueError:
        return str(value)  # a value newer than this client


def enum_value(enum_type: EnumTypeWrapper, prefix: str, value: int | str) -> int:
    """An enum's number from its number, full name or short name (prefix removed)."""
    if isinstance(value, int):
        return value
    name = value.upper()
    if not name.startswith(prefix):
        name = prefix + name
    try:
        return enum_type.Value(name)
    except ValueError:
        raise ValueError(f"unknown value {value!r} for {prefix}*") from None


def now_ms() -> float:
    """This machine's clock, ms since the epoch (the protocol's time unit)."""
    return time.time() * 1000.0


def note_event(
    event_type: int | str, key: int, velocity: int = 0, delay_ms: int = 0, channel: int = 0
) -> pb.NoteEvent:
    """One ``NoteEvent``; ``event_type`` is a ``NoteEventType`` value or name ("NOTE_ON")."""
    return pb.NoteEvent(
        type=enum_value(pb.NoteEventType, "NOTE_EVENT_TYPE_", event_type),  # type: ignore[arg-type]
        key=key,
        velocity=velocity,
        delay_ms=delay_ms,
        channel=channel,
    )


def chord(keys: Iterable[int], velocity: int = 100, duration_ms: int = 400) -> list[pb.NoteEvent]:
    """NOTE_ON for every key now and NOTE_OFF after ``duration_ms`` (at most 1000)."""
    keys = list(keys)
    return [note_event("NOTE_ON", key, velocity, 0) for key in keys] + [
        note_event("NOTE_OFF", key, 0, min(duration_ms, 1000)) for key in keys
    ]


def as_note(note: NoteLike) -> pb.NoteEvent:
    """A ``NoteEvent`` as it is, or one made from a ``NoteTuple``."""
    if isinstance(note, pb.NoteEvent):
        return note
    return note_event(*note)


def room_settings(settings: pb.RoomSettings | Mapping[str, SettingValue] | None) -> pb.RoomSettings:
    """``RoomSettings`` from a message, a mapping of field names, or nothing (all unset)."""
    if settings is None:
        return pb.RoomSettings()
    if isinstance(settings, pb.RoomSettings):
        return settings
    return pb.RoomSettings(**settings)  # type: ignore[arg-type]


# --- client messages ------------------------------------------------------------------------


def join_room(
    room_name: str,
    password: str = "",
    create_if_missing: bool = False,
    settings: pb.RoomSettings | Mapping[str, SettingValue] | None = None,
) -> pb.ClientMessage:
    join = pb.JoinRoom(
        room_name=room_name,
        password=password,
        create_if_missing=create_if_missing,
        settings=room_settings(settings),
    )
    return pb.ClientMessage(join_room=join)


def note_batch(notes: Iterable[NoteLike], start_time: float) -> pb.ClientMessage:
    """``start_time`` is on the server's clock (``ClientState.server_now``)."""
    batch = pb.NoteBatch(start_time=start_time, notes=[as_note(note) for note in notes])
    return pb.ClientMessage(note_batch=batch)


def moderate(
    action: int | str, target_user_id: str, duration_seconds: int = 0, reason: str = ""
) -> pb.ClientMessage:
    """``action`` is a ``ModerationAction`` value or name ("KICK", "BAN", "MUTE", ...)."""
    message = pb.Moderate(
        action=enum_value(pb.ModerationAction, "MODERATION_ACTION_", action),  # type: ignore[arg-type]
        target_user_id=target_user_id,
        duration_seconds=duration_seconds,
        reason=reason,
    )
    return pb.ClientMessage(moderate=message)


def update_profile(display_name: str | None = None, color: str | None = None) -> pb.ClientMessage:
    """Only the fields given change."""
    profile = pb.UpdateProfile()
    if display_name is not None:
        profile.display_name = display_name
    if color is not None:
        profile.color = color
    return pb.ClientMessage(update_profile=profile)


def encode_client(message: pb.ClientMessage, encoding: EncodingName) -> bytes | str:
    """One client frame: binary protobuf, or the canonical JSON as text."""
    if encoding == "proto":
        return message.SerializeToString()
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":"))


def note_on_batch_frame(
    encoding: EncodingName,
    start_time: float,
    notes: Iterable[tuple[int, int, int]],
    velocity: int,
) -> bytes | str:
    """A frame of one batch of NOTE_ON events ``(key, delay_ms, channel)`` at ``velocity``.

    The same frame ``encode_client(note_batch(...))`` makes, built the short way for clients
    that send thousands a second (the load generator).
    """
    if encoding == "proto":
        batch = pb.NoteBatch(start_time=start_time)
        for key, delay_ms, channel in notes:
            batch.notes.add(
                type=pb.NOTE_EVENT_TYPE_NOTE_ON,
                key=key,
                velocity=velocity,
                delay_ms=delay_ms,
                channel=channel,
            )
        return pb.ClientMessage(note_batch=batch).SerializeToString()
    events = [
        {"type": _NOTE_ON_JSON, "key": k, "velocity": velocity, "delayMs": d, "channel": c}
        for k, d, c in notes
    ]
    body = {"noteBatch": {"startTime": start_time, "notes": events}}
    return json.dumps(body, separators=(",", ":"))


# --- server messages ------------------------------------------------------------------------


#: A binary ``ServerFrame`` parsed, the short way (protobuf's own parser, no wrapper around
#: it), for clients that read thousands a second. Raises ``DecodeError``.
parse_server_frame: Callable[[bytes], pb.ServerFrame] = pb.ServerFrame.FromString


def decode_server(frame: bytes | str, *, strict: bool = False) -> list[pb.ServerMessage]:
    """The messages of one ``ServerFrame``, decoded by the frame's type (bytes: protobuf).

    Unknown JSON fields are ignored so a newer server stays readable, unless ``strict`` (the
    tests, where client and server share one .proto). Raises ``ValueError`` on anything that
    is not a ServerFrame.
    """
    try:
        if isinstance(frame, bytes):
            return list(parse_server_frame(frame).messages)
        server_frame = pb.ServerFrame()
        json_format.Parse(frame, server_frame, ignore_unknown_fields=not strict)
    except (DecodeError, json_format.ParseError, RecursionError) as exc:
        raise ValueError(f"not a ServerFrame: {str(exc)[:200]}") from exc
    return list(server_frame.messages)


# --- client state ---------------------------------------------------------------------------


class ClientState:
    """What a client knows of its session: who it is, its room, the server's clock.

    A transport feeds it the ``welcome``, each join's ``room_state``, every other message
    (``observe``) and each time sync's reply; it answers ``server_now`` for note batches.
    """

    def __init__(self) -> None:
        self.welcome = pb.Welcome()
        #: The last ``room_state`` of a join (None when not in a room).
        self.room: pb.RoomState | None = None
        #: The room and password to rejoin after a reconnect (None when not in a room).
        self.join_request: tuple[str, str] | None = None
        self._clock_samples: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=CLOCK_SAMPLES
        )
        self.clock_offset = 0.0

    @property
    def session_id(self) -> str:
        return self.welcome.session_id

    @property
    def user(self) -> pb.UserInfo:
        return self.welcome.user

    def welcomed(self, welcome: pb.Welcome) -> None:
        """A new session: no room yet, and a first one-way clock estimate."""
        self.welcome = welcome
        self.room = None
        self.clock_offset = welcome.server_time - now_ms()

    def joined(self, state: pb.RoomState, room_name: str, password: str) -> None:
        self.room = state
        self.join_request = (state.room.name or room_name, password)

    def left(self) -> None:
        self.room = None
        self.join_request = None

    def observe(self, message: pb.ServerMessage) -> None:
        """Follow a message that changes the state by itself (a removal from the room)."""
        if message.WhichOneof("kind") == "removed":
            self.left()

    def clock_sample(self, sent: float, received: float, server_time: float) -> float:
        """Record a time sync sent at ``sent`` and answered at ``received`` (this machine's
        ms) with ``server_time``; returns the offset estimate (server minus local, ms)."""
        self._clock_samples.append((received - sent, server_time - (sent + received) / 2))
        # NTP's rule of thumb: the sample with the shortest round trip is the least skewed.
        self.clock_offset = min(self._clock_samples)[1]
        return self.clock_offset

    def server_now(self) -> float:
        """The server's clock now, estimated, in ms since the epoch."""
        return now_ms() + self.clock_offset
