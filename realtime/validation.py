"""Bounds on what clients may send, applied after decoding and before anything is relayed
or stored (docs/protocol.md, Limits; docs/security.md, Text no lookup can take).

Each ``clean_*`` function returns the value to use or raises ``ProtocolError`` with code
INVALID_ARGUMENT and a message saying what was wrong. Notes and cursors are clamped where a
nearby value is still what the player meant, and dropped or refused where none is. Text is
judged by the pure rules of ``rooms.rules`` and ``users.rules`` (one rule per kind of text for
sockets, REST and admin alike); this module only adapts them.

Pure: no Django, no I/O.
"""

from __future__ import annotations

import math
import re

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from realtime.codec import MAX_NOTES_PER_BATCH
from realtime.exceptions import ProtocolError
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from rooms import rules as room_rules
from users import rules as users_rules
from users.guests import GUEST_ID_PATTERN

# A start_time further than this from the server clock is a client with a broken clock
# (or no time_sync yet): its notes are played "now" rather than refused.
MAX_CLOCK_SKEW_MS = 10_000.0
MAX_KEY = 127
MAX_VELOCITY = 127
MAX_DELAY_MS = 1_000
MAX_CHANNEL = 15

CURSOR_MIN = 0.0
CURSOR_MAX = 100.0

_NOTE_ON = pb.NOTE_EVENT_TYPE_NOTE_ON
_NOTE_OFF = pb.NOTE_EVENT_TYPE_NOTE_OFF
_KNOWN_EVENT_TYPES = frozenset(
    {_NOTE_ON, _NOTE_OFF, pb.NOTE_EVENT_TYPE_SUSTAIN_ON, pb.NOTE_EVENT_TYPE_SUSTAIN_OFF}
)


def _invalid(message: str) -> ProtocolError:
    return ProtocolError("INVALID_ARGUMENT", message)


# --------------------------------------------------------------------------------------------
# Notes
# --------------------------------------------------------------------------------------------


def clean_note_batch(batch: pb.NoteBatch, now_ms: float) -> pb.NoteBatch:
    """The batch to relay, given the server clock ``now_ms`` (ms since the epoch).

    Refused (INVALID_ARGUMENT): a start_time that is NaN, infinite, zero or negative (zero is
    what an absent start_time reads as in proto3), and batches of more than 300 events.

    Repaired:
    - start_time more than 10 s from the server clock is set to ``now_ms``;
    - events of an unknown type, or with a key above 127, are dropped (there is no nearby
      key that is what the player meant);
    - NOTE_ON with velocity 0 becomes NOTE_OFF, as in MIDI, where it is how most keyboards
      release a key: dropping it would leave the note hanging on every receiver;
    - velocity above 127 is clamped to 127, delay_ms above 1000 to 1000, channel above 15
      to 15 (the fields are unsigned, so there is no lower bound to enforce).

    A batch that needs no repair is returned as is (the common case, with no copying);
    otherwise a new batch is built. The result may hold no events; callers skip relaying it.
    """
    start_time = batch.start_time
    if not math.isfinite(start_time) or start_time <= 0:
        raise _invalid("noteBatch.startTime must be the server-clock time in ms since the epoch.")
    notes = batch.notes
    if len(notes) > MAX_NOTES_PER_BATCH:
        raise _invalid(
            f"A note batch holds at most {MAX_NOTES_PER_BATCH} events, not {len(notes)}."
        )
    clock_ok = abs(start_time - now_ms) <= MAX_CLOCK_SKEW_MS
    if clock_ok and all(_event_is_clean(event) for event in notes):
        return batch
    cleaned = pb.NoteBatch(start_time=start_time if clock_ok else now_ms)
    for event in notes:
        repaired = _clean_event(event)
        if repaired is not None:
            cleaned.notes.append(repaired)
    return cleaned


def _event_is_clean(event: pb.NoteEvent) -> bool:
    event_type = event.type
    velocity = event.velocity
    return (
        event_type in _KNOWN_EVENT_TYPES
        and event.key <= MAX_KEY
        and velocity <= MAX_VELOCITY
        and (velocity > 0 or event_type != _NOTE_ON)
        and event.delay_ms <= MAX_DELAY_MS
        and event.channel <= MAX_CHANNEL
    )


def _clean_event(event: pb.NoteEvent) -> pb.NoteEvent | None:
    event_type = event.type
    if event_type not in _KNOWN_EVENT_TYPES or event.key > MAX_KEY:
        return None
    if event_type == _NOTE_ON and event.velocity == 0:
        event_type = _NOTE_OFF
    return pb.NoteEvent(
        type=event_type,
        key=event.key,
        velocity=min(event.velocity, MAX_VELOCITY),
        delay_ms=min(event.delay_ms, MAX_DELAY_MS),
        channel=min(event.channel, MAX_CHANNEL),
    )


# --------------------------------------------------------------------------------------------
# Player ids
# --------------------------------------------------------------------------------------------

_GUEST_ID_RE = re.compile(GUEST_ID_PATTERN)
_ACCOUNT_ID_RE = re.compile(r"[1-9][0-9]{0,18}")
_MAX_ACCOUNT_ID = 2**63 - 1  # a BigAutoField


def clean_player_id(user_id: str) -> str:
    """``user_id`` if it can name a player (an account's id, or a guest id as the server
    makes them); INVALID_ARGUMENT otherwise, before anything looks it up. ``str.isdigit``
    is not enough: it accepts "²" and digits of other scripts, which ``int`` refuses."""
    if _GUEST_ID_RE.fullmatch(user_id):
        return user_id
    if _ACCOUNT_ID_RE.fullmatch(user_id) and int(user_id) <= _MAX_ACCOUNT_ID:
        return user_id
    raise _invalid("targetUserId must be the id of a player.")


# --------------------------------------------------------------------------------------------
# Cursor
# --------------------------------------------------------------------------------------------


def clean_cursor(x: float, y: float) -> tuple[float, float]:
    """The cursor position clamped to 0-100; NaN or infinite coordinates are refused."""
    if not (math.isfinite(x) and math.isfinite(y)):
        raise _invalid("cursor.x and cursor.y must be finite numbers from 0 to 100.")
    return (
        min(max(x, CURSOR_MIN), CURSOR_MAX),
        min(max(y, CURSOR_MIN), CURSOR_MAX),
    )


# --------------------------------------------------------------------------------------------
# Text: the rules live with their owners (rooms.rules for room names and chat, users.rules for
# display names), so a socket, the REST API and the admin refuse exactly the same text. These
# adapters only turn their verdict into a ProtocolError, and for chat first remove the
# invisible characters that carry nothing.
# --------------------------------------------------------------------------------------------

# Input longer than this many times the limit is refused before any per-character work, so a
# 1 MiB string costs nothing. Generous, so that text which only shrinks below the limit once
# invisible characters are removed is judged on its result.
_RAW_TEXT_FACTOR = 4


def clean_display_name(text: str) -> str:
    """The display name to store, by ``users.rules``: NFC-normalised and stripped, at most 32
    printable characters (invisible and bidi characters refused, so names that look alike
    are alike). "" is allowed and means "show the username"."""
    if len(text) > users_rules.DISPLAY_NAME_MAX * _RAW_TEXT_FACTOR:
        raise _invalid(f"Display name must be at most {users_rules.DISPLAY_NAME_MAX} characters.")
    name = users_rules.normalize_text(text)
    problem = users_rules.display_name_problem(name)
    if problem is not None:
        raise _invalid(problem)
    return name


def clean_room_query(query: str) -> str:
    """A room-list search: stripped, at most as long as a room name."""
    query = query.strip()
    if len(query) > room_rules.NAME_MAX_LENGTH:
        raise _invalid(f"A room search is at most {room_rules.NAME_MAX_LENGTH} characters.")
    return query


def clean_room_name(name: str) -> str:
    """``name`` if ``rooms.rules`` accepts it as a room name (1-64 printable characters, no
    surrounding spaces, no invisible or bidi characters); INVALID_ARGUMENT otherwise.
    Whether a lobby name may be used is the join service's business."""
    if len(name) > room_rules.NAME_MAX_LENGTH * _RAW_TEXT_FACTOR:
        raise _invalid(f"At most {room_rules.NAME_MAX_LENGTH} characters.")
    problem = room_rules.name_problem(name)
    if problem is not None:
        raise _invalid(problem)
    return name


def refuse_null_characters(message: Message) -> None:
    """INVALID_ARGUMENT if any text in ``message`` holds a null character: no name, search,
    reason or password may (PostgreSQL text cannot even store one)."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else (value,)
        if field.type == FieldDescriptor.TYPE_STRING:
            if any("\x00" in text for text in values):
                raise _invalid(f"{field.json_name} must not contain null characters.")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for inner in values:
                refuse_null_characters(inner)
