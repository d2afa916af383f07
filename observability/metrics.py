"""The real-time layer's Prometheus metrics, and the live numbers of the status page.

Each metric is registered once, at import, in prometheus_client's default registry, which
``/metrics`` exports next to django-prometheus' request, database and cache metrics. The
numbers are per process: Prometheus scrapes each server instance and adds them up.

The real-time layer calls the functions below (never the metric objects), so what it
reports stays one line per event. Each costs a dictionary lookup and a locked addition:
cheap enough for the hot path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from observability.rolling import RollingCounter

WEBSOCKET_CONNECTIONS = Gauge(
    "pianorhythm_websocket_connections", "Open WebSocket connections on this process."
)
ACTIVE_ROOMS = Gauge("pianorhythm_active_rooms", "Rooms with at least one member on this process.")
ROOM_MEMBERS = Gauge("pianorhythm_room_members", "Room members connected to this process.")
MESSAGES_RECEIVED = Counter(
    "pianorhythm_messages_received", "Client messages received, by type.", ["type"]
)
MESSAGES_SENT = Counter(
    "pianorhythm_messages_sent", "Server messages sent to clients, by type.", ["type"]
)
NOTE_EVENTS_RELAYED = Counter(
    "pianorhythm_note_events_relayed", "Note events relayed to rooms (counted once per batch)."
)
RELAY_SECONDS = Histogram(
    "pianorhythm_relay_seconds",
    "Time from receiving a note batch to handing it to the room's fan-out.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)
RATE_LIMITED = Counter(
    "pianorhythm_rate_limited", "Messages refused or dropped by a rate limit, by code.", ["code"]
)
PROTOCOL_ERRORS = Counter(
    "pianorhythm_protocol_errors", "Error replies sent to clients, by code.", ["code"]
)
OUTBOUND_DROPPED = Counter(
    "pianorhythm_outbound_dropped", "Messages dropped because a client's send queue was full."
)
LATE_NOTES_SHED = Counter(
    "pianorhythm_late_note_batches",
    "Note batches too late to play, relayed with their releases only or not at all, by where "
    "they were found late: on arrival from their sender, or in a listener's outbox.",
    ["stage"],
)
HUB_DROPPED = Counter(
    "pianorhythm_hub_dropped",
    "Messages for other instances dropped: the channel layer was unreachable or its queue full.",
)
SLOW_CLIENT_DISCONNECTS = Counter(
    "pianorhythm_slow_client_disconnects", "Clients disconnected because they read too slowly."
)

_STARTED = time.monotonic()
_notes_last_minute = RollingCounter(60)
_received: dict[str, Counter] = {}
_sent: dict[str, Counter] = {}
_rate_limited: dict[str, Counter] = {}
_protocol_errors: dict[str, Counter] = {}
# Plain copies of the gauges for the status page (prometheus_client keeps its values private).
_connections = 0
_rooms = 0
_members = 0


def _child(family: Counter, children: dict[str, Counter], label: str) -> Counter:
    child = children.get(label)
    if child is None:
        child = children[label] = family.labels(label)
    return child


# --- Called by the real-time layer --------------------------------------------------------


def connection_opened() -> None:
    """A WebSocket was accepted."""
    global _connections
    _connections += 1
    WEBSOCKET_CONNECTIONS.inc()


def connection_closed() -> None:
    """An accepted WebSocket is gone."""
    global _connections
    _connections = max(0, _connections - 1)
    WEBSOCKET_CONNECTIONS.dec()


def set_active_rooms(count: int) -> None:
    """How many rooms have members on this process now."""
    global _rooms
    _rooms = count
    ACTIVE_ROOMS.set(count)


def set_room_members(count: int) -> None:
    """How many room members are connected to this process now."""
    global _members
    _members = count
    ROOM_MEMBERS.set(count)


def message_received(kind: str) -> None:
    """A decoded client message; ``kind`` is its ``ClientMessage`` field (``note_batch``...)."""
    _child(MESSAGES_RECEIVED, _received, kind).inc()


def message_sent(kind: str, count: int = 1) -> None:
    """``count`` server messages of field ``kind`` sent (a broadcast counts its recipients)."""
    _child(MESSAGES_SENT, _sent, kind).inc(count)


def notes_relayed(count: int, seconds: float | None = None) -> None:
    """A note batch of ``count`` events relayed, ``seconds`` after it was received."""
    NOTE_EVENTS_RELAYED.inc(count)
    _notes_last_minute.add(count)
    if seconds is not None:
        RELAY_SECONDS.observe(seconds)


def rate_limited(code: str) -> None:
    """A message refused or dropped by a limit (``RATE_LIMITED``, ``FLOOD``, ``NOTE_QUOTA``)."""
    _child(RATE_LIMITED, _rate_limited, code).inc()


def protocol_error(code: str) -> None:
    """An ``error`` reply with this ErrorCode name sent to a client."""
    _child(PROTOCOL_ERRORS, _protocol_errors, code).inc()


def outbound_dropped(count: int = 1) -> None:
    OUTBOUND_DROPPED.inc(count)


_late_notes: dict[str, Counter] = {}


def late_notes_shed(count: int, stage: str) -> None:
    """``stage``: "arrival" (realtime.lateness) or "outbox" (realtime.session)."""
    _child(LATE_NOTES_SHED, _late_notes, stage).inc(count)


def hub_dropped(count: int = 1) -> None:
    HUB_DROPPED.inc(count)


def slow_client_disconnected() -> None:
    SLOW_CLIENT_DISCONNECTS.inc()


# --- Read by the status page ----------------------------------------------------------------


@dataclass(frozen=True)
class LiveNumbers:
    connections: int
    rooms: int
    members: int
    notes_per_second: float
    uptime_seconds: float


def live_numbers() -> LiveNumbers:
    """This process's live numbers; zero until the real-time layer reports."""
    return LiveNumbers(
        connections=_connections,
        rooms=_rooms,
        members=_members,
        notes_per_second=round(_notes_last_minute.per_second(), 2),
        uptime_seconds=time.monotonic() - _STARTED,
    )
