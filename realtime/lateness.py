"""Note batches that reach the server too late to be played: shed where they arrive.

Past what a process can carry, the backlog builds before the application sees a frame: in
the kernel's socket buffers (uvicorn stops reading a socket while the application is busy
with its last message) or in the interface server's receive queue (Daphne). Every frame in
it is a note batch whose moment has passed by the time the process reads it, and relaying
it to a room costs a send per listener. So each socket measures how late its sender's
batches arrive and relays a late one with its releases only, or not at all, for the price of
reading it (docs/architecture.md, Overload).

How late a batch is: its lag, ``now - start_time`` on the server's clock, against the
sender's norm. The norm is the least lag the socket's batches have shown, which takes in
what is the sender's own doing and not the server's: a clock that is off, no time sync yet,
notes held for a while before they are sent (the web client: up to 100 ms). A batch is late
when its lag is over ``LATE_MS`` past both the clock and the norm; a client that schedules
notes ahead of time is never late while its batches are still ahead of the clock.

The norm falls at once to any lower lag and otherwise rises by ``DRIFT_MS_PER_S`` only (clock
drift), so a process that stays overloaded keeps shedding what it cannot relay in time
instead of taking its own backlog for the norm. A sender whose batches have all been late
for ``RESET_SECONDS`` while no other sender's were has moved its clock (a time-sync
correction): the norm moves to the least lag of that run, and the sender is heard again.
Overload makes many senders late at once, which is how the two are told apart; should
several senders move their clocks together, each is heard again after ``LONG_RESET_SECONDS``.

The lags are measured on the process' monotonic clock, anchored to the wall clock once, so a
step of the server's wall clock (NTP) does not make every sender late at once; each client
meets it at its own next time sync, as a clock correction of its own.

Batches whose start_time was too far from the server's clock to be used (over
``validation.MAX_CLOCK_SKEW_MS``: the server plays them "now") are neither late nor counted.
"""

from __future__ import annotations

import time

from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

#: As the outbox's limit (realtime.session.LATE_SECONDS): the web client plays others'
#: notes a quarter of a second after they were sent.
LATE_MS = 200.0
#: How fast a sender's norm may rise on its own: clocks drift by less.
DRIFT_MS_PER_S = 1.0
#: How long every batch of a sender must be late, while no other sender's is, before its
#: norm moves up to them; and regardless of the others.
RESET_SECONDS = 2.0
LONG_RESET_SECONDS = 10.0

#: The wall clock (ms since the epoch) at monotonic time zero, read once: ``clock_ms``.
_ANCHOR_MS = time.time() * 1000.0 - time.monotonic() * 1000.0


def clock_ms(monotonic: float) -> float:
    """The server's clock in ms since the epoch at ``monotonic`` seconds, without the wall
    clock's later steps."""
    return monotonic * 1000.0 + _ANCHOR_MS


class _LateSenders:
    """Who was last late in this process: the latest late batch of the two senders most
    recently late (a sender is its ArrivalLag), enough to tell whether anyone but a given
    sender was late since a given time. One per process; the event loop is one thread."""

    __slots__ = ("_latest", "_other")

    def __init__(self) -> None:
        self._latest: tuple[object, float] = (None, -1e18)
        self._other: tuple[object, float] = (None, -1e18)

    def saw(self, sender: object, now: float) -> None:
        if self._latest[0] is not sender:
            self._other = self._latest
        self._latest = (sender, now)

    def others_since(self, sender: object, since: float) -> bool:
        latest = self._other if self._latest[0] is sender else self._latest
        return latest[0] is not None and latest[1] >= since


_late_senders = _LateSenders()

#: Events that start a sound; every other kind ends one.
SOUNDING = frozenset({pb.NOTE_EVENT_TYPE_NOTE_ON})


class ArrivalLag:
    """How late one socket's note batches arrive, against the sender's norm."""

    __slots__ = ("_late_since", "_norm", "_norm_at", "_run_least")

    def __init__(self) -> None:
        self._norm: float | None = None  # ms
        self._norm_at = 0.0  # monotonic seconds: when the norm was last set
        #: When the current run of late batches began (None: the last batch was on time),
        #: and the least lag in it.
        self._late_since: float | None = None
        self._run_least = 0.0

    def late(self, lag_ms: float, now: float) -> bool:
        """Record a batch that arrived ``lag_ms`` after its start_time, at monotonic ``now``
        (seconds); whether it is too late to play."""
        norm = self._norm
        if norm is None or lag_ms <= norm + DRIFT_MS_PER_S * (now - self._norm_at):
            self._set_norm(lag_ms, now)
            return False
        norm += DRIFT_MS_PER_S * (now - self._norm_at)
        if lag_ms <= LATE_MS or lag_ms - norm <= LATE_MS:
            self._late_since = None
            return False
        if self._late_since is None:
            self._late_since, self._run_least = now, lag_ms
            _late_senders.saw(self, now)
            return True
        self._run_least = min(self._run_least, lag_ms)
        _late_senders.saw(self, now)
        late_for = now - self._late_since
        if late_for >= LONG_RESET_SECONDS or (
            late_for >= RESET_SECONDS and not _late_senders.others_since(self, self._late_since)
        ):
            # Every batch late for a while, and not the process' load: the sender's clock moved.
            self._set_norm(self._run_least, now)
            return lag_ms - self._run_least > LATE_MS
        return True

    def _set_norm(self, lag_ms: float, now: float) -> None:
        self._norm, self._norm_at = lag_ms, now
        self._late_since = None


def releases_only(batch: pb.NoteBatch) -> pb.NoteBatch | None:
    """What is still worth relaying of a late batch: its releases (note offs, pedal
    events), so no key is left sounding on the listeners' pianos; None without any."""
    releases = [note for note in batch.notes if note.type not in SOUNDING]
    if not releases:
        return None
    return pb.NoteBatch(start_time=batch.start_time, notes=releases)
