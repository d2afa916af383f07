"""Frames to protocol messages and back, for both subprotocols (docs/protocol.md, Encodings).

``pianorhythm.v1.proto`` carries binary frames: one ``ClientMessage`` per client frame, one
``ServerFrame`` per server frame. ``pianorhythm.v1.json`` carries text frames holding the same
messages in protobuf's canonical JSON mapping (lowerCamelCase field names, enum values by full
name, fields at their default omitted); it is also what a client that offers no subprotocol
gets.

Broadcasts encode each message once per encoding, not once per recipient: wrap the message in
an ``EncodedMessage`` and hand the same object to every socket, which joins what waits for it
into as few frames as fit (``join_within``) without re-encoding any message.

Pure: no Django, no I/O.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, overload

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from realtime.exceptions import ProtocolError
from realtime.lateness import SOUNDING
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb


class Encoding(enum.Enum):
    """The wire encoding of one socket; the value is the WebSocket subprotocol name."""

    PROTO = "pianorhythm.v1.proto"
    JSON = "pianorhythm.v1.json"


def choose_encoding(offered_subprotocols: Iterable[str]) -> tuple[Encoding, str | None]:
    """Pick the encoding for a handshake offering ``offered_subprotocols``.

    Returns the encoding and the subprotocol to echo in the accept (``None``: echo none).
    Binary protobuf wins when offered; a client offering neither of ours, or nothing, gets
    JSON, which is what a terminal client typing frames by hand needs.
    """
    offered = {name.strip() for name in offered_subprotocols}
    if Encoding.PROTO.value in offered:
        return Encoding.PROTO, Encoding.PROTO.value
    if Encoding.JSON.value in offered:
        return Encoding.JSON, Encoding.JSON.value
    return Encoding.JSON, None


# --------------------------------------------------------------------------------------------
# Client -> server
# --------------------------------------------------------------------------------------------


def decode_client(encoding: Encoding, text: str | None, data: bytes | None) -> pb.ClientMessage:
    """Decode one client frame (the ``text`` or ``bytes`` of a ``websocket.receive``).

    Raises ``ProtocolError`` with code BAD_MESSAGE for anything that is not exactly one known
    ``ClientMessage``: a frame of the wrong kind for the subprotocol, invalid JSON, wrong
    types, unknown JSON fields, truncated or garbage protobuf, or no message set. Unknown
    fields in binary frames are dropped (protobuf's forward compatibility), so nothing the
    server does not understand is ever relayed. Values are not range-checked here: that is
    ``realtime.validation``'s job.
    """
    message = _decode_proto(data) if encoding is Encoding.PROTO else _decode_json(text)
    if message.WhichOneof("kind") is None:
        raise ProtocolError("BAD_MESSAGE", "The frame holds no message this server knows.")
    return message


def _decode_proto(data: bytes | None) -> pb.ClientMessage:
    if data is None:
        raise ProtocolError(
            "BAD_MESSAGE", "This connection speaks pianorhythm.v1.proto: send binary frames."
        )
    message = pb.ClientMessage()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise ProtocolError("BAD_MESSAGE", "The binary frame is not a ClientMessage.") from exc
    message.DiscardUnknownFields()
    return message


#: The most events one note batch may hold (``realtime.validation`` refuses more).
MAX_NOTES_PER_BATCH = 300
#: The most objects, arrays and items a JSON frame of any other kind may hold: protobuf's JSON
#: parser is pure Python, some 5 µs an element, so a 64 KiB frame of ``[{},{},...]`` would
#: hold the event loop for a tenth of a second. No legal message comes near (a chat line is
#: at most 500 characters).
MAX_JSON_ELEMENTS = 1024


def _decode_json(text: str | None) -> pb.ClientMessage:
    """Decode a text frame: its elements counted and ``json.loads`` run (both C code) first;
    then note batches, the hot path and the only message with a long list, are built
    directly, and anything else goes to protobuf's JSON parser only when it is small enough
    (``MAX_JSON_ELEMENTS``)."""
    if text is None:
        raise ProtocolError(
            "BAD_MESSAGE", "This connection speaks pianorhythm.v1.json: send text frames."
        )
    elements = _json_elements(text)
    # The fullest legal frame is a note batch: room for its events, spelt any legal way.
    if elements > MAX_JSON_ELEMENTS + MAX_NOTES_PER_BATCH * 8:
        raise ProtocolError("BAD_MESSAGE", "The text frame holds too many elements.")
    try:
        data = json.loads(
            text,
            object_pairs_hook=_object_without_repeats,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("BAD_MESSAGE", f"Invalid message: {_first_line(exc)}") from exc
    if isinstance(data, dict) and len(data) == 1 and data.keys() & {"noteBatch", "note_batch"}:
        return _note_batch_from_json(next(iter(data.values())))
    if elements > MAX_JSON_ELEMENTS:
        raise ProtocolError("BAD_MESSAGE", "The text frame holds too many elements.")
    message = pb.ClientMessage()
    try:
        json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        # ParseError's text names the offending field ("Failed to parse key field: Value out
        # of range: -1"), which helps whoever writes a client; it never echoes much input.
        raise ProtocolError("BAD_MESSAGE", f"Invalid message: {_first_line(exc)}") from exc
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        # json_format wraps what it expects; these cover the inputs it does not (e.g. nesting
        # deep enough to exhaust the stack on some paths).
        raise ProtocolError("BAD_MESSAGE", "The text frame is not a ClientMessage.") from exc
    return message


def _object_without_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object, refused when it names a field twice (which value would count?)."""
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise ValueError("a field is given twice")
    return fields


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _no_constant(name: str) -> float:
    # JSON has no NaN or Infinity; protobuf's JSON form spells them as strings.
    raise ValueError(f"not JSON: {name}")


def _json_elements(text: str) -> int:
    """An upper bound on the objects, arrays and items in a JSON text, counted in C: commas
    and brackets inside strings count too, which only makes it larger."""
    return text.count(",") + text.count("{") + text.count("[")


_NOTE_FIELDS = {
    "type": "type",
    "key": "key",
    "velocity": "velocity",
    "delayMs": "delay_ms",
    "delay_ms": "delay_ms",
    "channel": "channel",
}
_NOTE_TYPES = dict(pb.NoteEventType.items())
_NOTE_TYPE_NUMBERS = frozenset(_NOTE_TYPES.values())
_UINT32_LIMIT = 1 << 32
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _bad_batch(what: str) -> ProtocolError:
    return ProtocolError("BAD_MESSAGE", f"Invalid message: noteBatch{what}.")


def _note_batch_from_json(batch: object) -> pb.ClientMessage:
    """A note batch from its JSON form, built field by field: a tenth of the cost of
    protobuf's JSON parser, which matters on the hot path.

    Numbers are JSON numbers and event types their names or numbers, as every protobuf JSON
    writer spells them; quoted numbers, which protobuf's parser would also take, are refused
    (BAD_MESSAGE), as is anything else unexpected, and more than ``MAX_NOTES_PER_BATCH``
    events before a single one is looked at.
    """
    if not isinstance(batch, dict):
        raise _bad_batch(" must be an object")
    unknown = batch.keys() - {"startTime", "start_time", "notes"}
    if unknown:
        raise _bad_batch(f" has no field {sorted(unknown)[0][:40]!r}")
    notes = batch.get("notes", [])
    if not isinstance(notes, list):
        raise _bad_batch(".notes must be an array")
    if len(notes) > MAX_NOTES_PER_BATCH:
        raise _bad_batch(f".notes holds at most {MAX_NOTES_PER_BATCH} events")
    message = pb.ClientMessage()
    built = message.note_batch
    built.SetInParent()
    built.start_time = _batch_start(batch)
    for index, note in enumerate(notes):
        built.notes.add(**_note_fields(index, note))
    return message


def _batch_start(batch: dict[str, object]) -> float:
    start = batch.get("startTime", batch.get("start_time", 0))
    # Protobuf's JSON spells the doubles JSON has no number for as strings (validation then
    # refuses them as a start time, with its own message).
    start = _NON_FINITE.get(start, start) if isinstance(start, str) else start
    twice = "startTime" in batch and "start_time" in batch
    if not isinstance(start, int | float) or isinstance(start, bool) or twice:
        raise _bad_batch(".startTime must be one number")
    return start


def _note_fields(index: int, note: object) -> dict[str, int]:
    if not isinstance(note, dict):
        raise _bad_batch(f".notes[{index}] must be an object")
    fields: dict[str, int] = {}
    for key, raw in note.items():
        field = _NOTE_FIELDS.get(key)
        if field is None or field in fields:
            raise _bad_batch(f".notes[{index}] has an unknown or repeated field")
        value = _NOTE_TYPES.get(raw, -1) if field == "type" and type(raw) is str else raw
        if type(value) is not int or not 0 <= value < _UINT32_LIMIT:
            raise _bad_batch(f".notes[{index}].{key} must be a whole number or a type name")
        if field == "type" and value not in _NOTE_TYPE_NUMBERS:
            raise _bad_batch(f".notes[{index}].type is not a note event type")
        fields[field] = value
    return fields


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0][:200]


# --------------------------------------------------------------------------------------------
# Server -> client
# --------------------------------------------------------------------------------------------

# Tag of ServerFrame.messages: field 1, wire type 2 (length-delimited).
_MESSAGES_TAG = b"\x0a"
_JSON_FRAME_START = '{"messages":['
_JSON_FRAME_END = "]}"


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _proto_frame(message: pb.ServerMessage) -> bytes:
    """The binary ServerFrame holding just ``message``.

    Built by hand (tag, length, body) rather than through ``ServerFrame(messages=[...])``,
    which would copy the message first; the bytes are identical.
    """
    body = message.SerializeToString()
    return _MESSAGES_TAG + _varint(len(body)) + body


def _json_message(message: pb.ServerMessage) -> str:
    """The canonical JSON of ``message`` (an object, not a frame), compact.

    ``MessageToDict`` then ``json.dumps`` rather than ``json_format.MessageToJson``: same
    mapping, but compact separators and no pretty-printing. Non-finite doubles come out of
    MessageToDict as the strings "NaN"/"Infinity", so ``allow_nan=False`` only guards
    against a bug ever emitting bare NaN, which is not JSON.
    """
    return json.dumps(
        json_format.MessageToDict(message),
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def join_frames(encoded: Sequence[bytes]) -> bytes:
    """One binary ServerFrame holding every message of the pre-encoded frames, in order.

    Protobuf merges concatenated encodings of a message, and a repeated field's elements
    accumulate, so the concatenation of ServerFrames is the ServerFrame of all their messages.
    """
    return b"".join(encoded)


def join_json_messages(messages_json: Sequence[str]) -> str:
    """One JSON ServerFrame from per-message JSON objects (``EncodedMessage.json_message``)."""
    return _JSON_FRAME_START + ",".join(messages_json) + _JSON_FRAME_END


#: Bytes a JSON ServerFrame adds around its messages: ``{"messages":[`` and ``]}``.
JSON_FRAME_OVERHEAD = len(_JSON_FRAME_START) + len(_JSON_FRAME_END)


class EncodedMessage:
    """One ``ServerMessage`` with each encoding computed at most once, on first use.

    A broadcast wraps its message once and hands this object to every recipient, so the
    message is serialized once per encoding however many sockets receive it. The message must
    not be changed after it is wrapped.
    """

    __slots__ = ("_json_message", "_json_size", "_late", "_message", "_proto_frame", "kind")

    def __init__(
        self, message: pb.ServerMessage | None, proto_frame: bytes | None = None, kind: str = ""
    ) -> None:
        self._message = message
        self._proto_frame: bytes | None = proto_frame
        #: The ServerMessage field that is set ("note_batch", ...), for counting.
        if not kind and message is not None:
            kind = message.WhichOneof("kind") or ""
        self.kind = kind
        self._json_message: str | None = None
        self._json_size = -1
        # False: not worked out yet; True: this message as it is; None: nothing to send.
        self._late: EncodedMessage | bool | None = False

    @classmethod
    def from_proto_frame(cls, proto_frame: bytes, kind: str = "") -> EncodedMessage:
        """Wrap the binary one-message ServerFrame another process encoded.

        The message itself is decoded only if a JSON socket needs it.
        """
        return cls(None, proto_frame, kind)

    @property
    def message(self) -> pb.ServerMessage:
        if self._message is None:
            frame = pb.ServerFrame.FromString(self.proto_frame)
            if len(frame.messages) != 1:
                raise ValueError("an EncodedMessage frame holds exactly one message")
            self._message = frame.messages[0]
        return self._message

    @property
    def proto_frame(self) -> bytes:
        """The binary ServerFrame holding only this message (joinable with ``join_frames``)."""
        if self._proto_frame is None:
            self._proto_frame = _proto_frame(self.message)
        return self._proto_frame

    @property
    def json_message(self) -> str:
        """This message's JSON object (joinable with ``join_json_messages``)."""
        if self._json_message is None:
            self._json_message = _json_message(self.message)
        return self._json_message

    def late(self) -> EncodedMessage | None:
        """What is still worth sending of this message once it is too late to play: a note
        batch keeps only its releases (note offs, pedal events), so no key is left sounding,
        and is None without any; any other message is itself. Computed once per broadcast
        (docs/architecture.md, Overload)."""
        if self.kind != "note_batch":
            return self
        if self._late is False:
            relayed = self.message.note_batch
            releases = [note for note in relayed.notes if note.type not in SOUNDING]
            if not releases:
                self._late = None
            elif len(releases) == len(relayed.notes):
                self._late = True  # not ``self``: a message holding itself would be a cycle
            else:
                kept = pb.RelayedNotes(
                    session_id=relayed.session_id, start_time=relayed.start_time, notes=releases
                )
                self._late = EncodedMessage(pb.ServerMessage(note_batch=kept), kind=self.kind)
        if self._late is True:
            return self
        return self._late if isinstance(self._late, EncodedMessage) else None

    def size(self, encoding: Encoding) -> int:
        """Bytes this message takes in a frame of ``encoding`` (JSON: its UTF-8 object, which
        is what a text frame carries on the wire)."""
        if encoding is Encoding.PROTO:
            return len(self.proto_frame)
        if self._json_size < 0:
            text = self.json_message
            # isascii() is O(1) on CPython's compact strings: most messages need no encoding.
            self._json_size = len(text) if text.isascii() else len(text.encode())
        return self._json_size


@overload
def join_encoded(
    encoding: Literal[Encoding.PROTO], messages: Sequence[EncodedMessage]
) -> bytes: ...
@overload
def join_encoded(encoding: Literal[Encoding.JSON], messages: Sequence[EncodedMessage]) -> str: ...
@overload
def join_encoded(encoding: Encoding, messages: Sequence[EncodedMessage]) -> bytes | str: ...
def join_encoded(encoding: Encoding, messages: Sequence[EncodedMessage]) -> bytes | str:
    """One frame holding ``messages`` in order, reusing each message's cached encoding."""
    if encoding is Encoding.PROTO:
        return join_frames([m.proto_frame for m in messages])
    return join_json_messages([m.json_message for m in messages])


def join_within(
    encoding: Encoding, messages: Sequence[EncodedMessage], limit: int
) -> tuple[list[bytes | str], list[EncodedMessage]]:
    """``messages`` joined, in order, into as few frames as hold at most ``limit`` bytes each.

    Returns the frames and the messages that no frame could hold (larger than the limit on
    their own; every message the server makes is bounded below it by design, so this list
    is empty unless that design has a bug). A client's interface server refuses, or fails
    on, a frame over its message size limit, so no frame may pass it.
    """
    frames: list[bytes | str] = []
    too_large: list[EncodedMessage] = []
    overhead, separator = (0, 0) if encoding is Encoding.PROTO else (JSON_FRAME_OVERHEAD, 1)
    batch: list[EncodedMessage] = []
    used = overhead
    for message in messages:
        size = message.size(encoding)
        if size + overhead > limit:
            too_large.append(message)
            continue
        extra = size + (separator if batch else 0)
        if batch and used + extra > limit:
            frames.append(join_encoded(encoding, batch))
            batch, used, extra = [], overhead, size
        batch.append(message)
        used += extra
    if batch:
        frames.append(join_encoded(encoding, batch))
    return frames, too_large


def error_message(
    code: str, message: str, request: str = "", fields: Mapping[str, str] | None = None
) -> pb.ServerMessage:
    """The ``error`` reply for ``code`` (an ErrorCode short name such as "ROOM_FULL").

    ``request`` is the ClientMessage field that failed ("join_room"), as returned by
    ``ClientMessage.WhichOneof("kind")``; ``fields`` what is wrong with each of its fields
    that is (``Error.fields``, docs/protocol.md).
    """
    return pb.ServerMessage(
        # The constructor takes an enum value's name and refuses an unknown one.
        error=pb.Error(
            code="ERROR_CODE_" + code,
            message=message,
            request=request,
            fields=[
                pb.FieldError(field=name, message=text) for name, text in (fields or {}).items()
            ],
        )
    )
