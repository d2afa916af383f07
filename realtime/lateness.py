"""Note batches that reach the server too late to be played: shed where they arrive.

Past what a process can carry, the backlog builds before the application sees a frame: in
the kernel's socket buffers (uvicorn stops reading a socket while the application is busy
with its last message) or in the interface server's receive queue (Daphne). Every frame in
it is a note batch whose moment has passed by the time the process reads it, and relaying
it to a room costs a send per listener. So each socket measures how late its sender's
batches arrive and relays a late one with its releases only, or not at all, for the price of
reading it (docs/architecture.md, Overload).

How late a batch is: ``now - start_time`` on the server's clock, less the least that this
socket's batches have shown over the last ``WINDOW_SECONDS``. The least is the sender's own
norm: a client whose clock is off, which has not synced yet, or which holds its notes for a
while before sending them (the web client: up to 100 ms) has a lag of its own that is not
the server's doing. A batch is late when it is over ``LATE_SECONDS`` past both the server's
clock and that norm; a client that schedules notes ahead of time is never late while its
batches are still ahead of the clock. After a client's clock correction moves its batches
later for good, its norm follows within ``WINDOW_SECONDS``.
"""

from __future__ import annotations

import math
from collections import deque

from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

#: As the outbox's limit (realtime.session.LATE_SECONDS): the web client plays others'
#: notes a quarter of a second after they were sent.
LATE_MS = 200.0
#: How long a socket's least lag is remembered, in whole seconds.
WINDOW_SECONDS = 10

#: Events that start a sound; every other kind ends one.
SOUNDING = frozenset({pb.NOTE_EVENT_TYPE_NOTE_ON})


class ArrivalLag:
    """The least arrival lag of one socket's note batches over the last WINDOW_SECONDS,
    kept as the least of each second (at most WINDOW_SECONDS + 1 pairs)."""

    __slots__ = ("_seconds",)

    def __init__(self) -> None:
        self._seconds: deque[tuple[int, float]] = deque()

    def late(self, lag_ms: float, now: float) -> bool:
        """Record a batch that arrived ``lag_ms`` after its start_time, at monotonic ``now``;
        whether it is too late to play."""
        second = math.floor(now)
        seconds = self._seconds
        while seconds and seconds[0][0] <= second - WINDOW_SECONDS:
            seconds.popleft()
        norm = min((least for _, least in seconds), default=lag_ms)
        if seconds and seconds[-1][0] == second:
            if lag_ms < seconds[-1][1]:
                seconds[-1] = (second, lag_ms)
        else:
            seconds.append((second, lag_ms))
        return lag_ms > LATE_MS and lag_ms - norm > LATE_MS


def releases_only(batch: pb.NoteBatch) -> pb.NoteBatch | None:
    """What is still worth relaying of a late batch: its releases (note offs, pedal
    events), so no key is left sounding on the listeners' pianos; None without any."""
    releases = [note for note in batch.notes if note.type not in SOUNDING]
    if not releases:
        return None
    return pb.NoteBatch(start_time=batch.start_time, notes=releases)
