"""Write-behind statistics: counted in memory, written in batches with atomic increments.

The real-time layer calls the ``record_*`` functions (module level, on the process's
``recorder``) from its event loop: each is a few dictionary additions under a lock, with no
I/O, so notes can be counted on the hot path. The first call inside a running event loop
starts a task that flushes at most every ``STATS_FLUSH_SECONDS`` (10 s); ``flush_now`` flushes
at once (tests, shutdown) and an ``atexit`` hook flushes what is left when the process exits
(Daphne turns SIGTERM into a clean exit, so a rolling deploy loses nothing).

A flush adds to the stored counters with ``UPDATE ... SET n = n + %s`` (inserting the row
when there is none yet, and retrying the update when a concurrent insert won), so several
server processes flushing into one database add up. A flush that fails puts its counts back
to be written next time.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Model, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from analytics.models import DailyActivity, Event, RoomStats, UserStats
from foundation.db import database_sync_to_async
from users.models import User

logger = logging.getLogger(__name__)

DEFAULT_FLUSH_SECONDS = 10.0
#: Queued join/leave events beyond this are dropped (counted in the log), bounding memory
#: if the database is down for long.
MAX_PENDING_EVENTS = 50_000


@dataclass
class Tally:
    notes: int = 0
    messages: int = 0
    seconds: float = 0.0
    joins: int = 0
    sessions: int = 0

    def merge(self, other: Tally) -> None:
        self.notes += other.notes
        self.messages += other.messages
        self.seconds += other.seconds
        self.joins += other.joins
        self.sessions += other.sessions


@dataclass
class RoomTally:
    name: str = ""
    notes: int = 0
    messages: int = 0
    peak: int = 0

    def merge(self, other: RoomTally) -> None:
        self.name = other.name or self.name
        self.notes += other.notes
        self.messages += other.messages
        self.peak = max(self.peak, other.peak)


@dataclass
class Pending:
    """Everything counted since the last flush."""

    users: defaultdict[int, Tally] = field(default_factory=lambda: defaultdict(Tally))
    # (day, user id); user None is the whole site, guests included.
    days: defaultdict[tuple[date, int | None], Tally] = field(
        default_factory=lambda: defaultdict(Tally)
    )
    rooms: defaultdict[str, RoomTally] = field(default_factory=lambda: defaultdict(RoomTally))
    events: list[Event] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.users or self.days or self.rooms or self.events)

    def merge(self, other: Pending) -> None:
        for user_id, tally in other.users.items():
            self.users[user_id].merge(tally)
        for key, tally in other.days.items():
            self.days[key].merge(tally)
        for room_id, room in other.rooms.items():
            self.rooms[room_id].merge(room)
        self.events[:0] = other.events


def _room_key(room_id: uuid.UUID | str | None) -> str | None:
    if room_id is None or room_id == "":
        return None
    return str(room_id)


class StatsRecorder:
    """In-memory counters of one process and their batched flush."""

    def __init__(self, flush_seconds: float | None = None) -> None:
        self.flush_seconds = flush_seconds
        self._pending = Pending()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._task_loop: asyncio.AbstractEventLoop | None = None
        self.dropped_events = 0
        self.flushes = 0

    @property
    def interval(self) -> float:
        if self.flush_seconds is not None:
            return self.flush_seconds
        return float(getattr(settings, "STATS_FLUSH_SECONDS", DEFAULT_FLUSH_SECONDS))

    # --- Recording (any thread or the event loop; no I/O) ------------------------------------

    def _tallies(self, user_id: int | None) -> list[Tally]:
        """The tallies one activity adds to: the user's total and day, and the site's day."""
        today = timezone.now().date()
        pending = self._pending
        tallies = [pending.days[(today, None)]]
        if user_id is not None:
            tallies += [pending.users[user_id], pending.days[(today, user_id)]]
        return tallies

    def _queue_event(self, kind: str, **fields: Any) -> None:
        if len(self._pending.events) >= MAX_PENDING_EVENTS:
            self.dropped_events += 1
            return
        self._pending.events.append(Event(kind=kind, created_at=timezone.now(), **fields))

    def record_notes(
        self,
        count: int,
        *,
        user_id: int | None = None,
        room_id: uuid.UUID | str | None = None,
        room_name: str = "",
    ) -> None:
        """``count`` notes played by a user (``user_id``) or a guest (None) in a room."""
        if count <= 0:
            return
        key = _room_key(room_id)
        with self._lock:
            for tally in self._tallies(user_id):
                tally.notes += count
            if key is not None:
                room = self._pending.rooms[key]
                room.notes += count
                room.name = room_name or room.name
        self._ensure_flusher()

    def record_chat(
        self,
        *,
        user_id: int | None = None,
        room_id: uuid.UUID | str | None = None,
        room_name: str = "",
    ) -> None:
        """One chat message sent."""
        key = _room_key(room_id)
        with self._lock:
            for tally in self._tallies(user_id):
                tally.messages += 1
            if key is not None:
                room = self._pending.rooms[key]
                room.messages += 1
                room.name = room_name or room.name
        self._ensure_flusher()

    def record_join(
        self,
        *,
        user_id: int | None = None,
        guest_id: str = "",
        room_id: uuid.UUID | str | None = None,
        room_name: str = "",
        members: int | None = None,
    ) -> None:
        """A player entered a room; ``members``, if given, is the room's count after it."""
        key = _room_key(room_id)
        with self._lock:
            for tally in self._tallies(user_id):
                tally.joins += 1
            if key is not None:
                room = self._pending.rooms[key]
                room.name = room_name or room.name
                if members is not None:
                    room.peak = max(room.peak, members)
            self._queue_event(
                Event.Kind.JOIN,
                user_id=user_id,
                guest_id=guest_id,
                room_id=key,
                room_name=room_name,
            )
        self._ensure_flusher()

    def record_leave(
        self,
        seconds: float,
        *,
        user_id: int | None = None,
        guest_id: str = "",
        room_id: uuid.UUID | str | None = None,
        room_name: str = "",
    ) -> None:
        """A player left a room after ``seconds`` in it."""
        seconds = max(0.0, seconds)
        with self._lock:
            for tally in self._tallies(user_id):
                tally.seconds += seconds
            self._queue_event(
                Event.Kind.LEAVE,
                user_id=user_id,
                guest_id=guest_id,
                room_id=_room_key(room_id),
                room_name=room_name,
                data={"seconds": round(seconds, 1)},
            )
        self._ensure_flusher()

    def record_session(self, *, user_id: int | None = None) -> None:
        """A socket was accepted (one session)."""
        with self._lock:
            for tally in self._tallies(user_id):
                tally.sessions += 1
        self._ensure_flusher()

    def record_peak(self, room_id: uuid.UUID | str, members: int, *, room_name: str = "") -> None:
        """The room has ``members`` members now (the stored peak only grows)."""
        key = _room_key(room_id)
        if key is None:
            return
        with self._lock:
            room = self._pending.rooms[key]
            room.peak = max(room.peak, members)
            room.name = room_name or room.name
        self._ensure_flusher()

    def pending(self) -> Pending:
        """A copy of the unflushed counts (tests and the status page)."""
        with self._lock:
            copy = Pending()
            copy.merge(self._pending)
            return copy

    # --- Flushing ------------------------------------------------------------------------

    def discard(self) -> None:
        """Forget everything unflushed (tests that must not leak counts into the next)."""
        self._take()

    def _take(self) -> Pending:
        with self._lock:
            taken, self._pending = self._pending, Pending()
            return taken

    def _put_back(self, taken: Pending) -> None:
        with self._lock:
            taken.merge(self._pending)
            self._pending = taken

    def flush_now(self) -> bool:
        """Write what has been counted. Synchronous (database); returns whether it wrote.

        On failure the counts are kept for the next flush and the error is raised.
        """
        with self._flush_lock:
            taken = self._take()
            if taken.is_empty():
                return False
            try:
                write_pending(taken, timezone.now())
            except Exception:
                self._put_back(taken)
                raise
            self.flushes += 1
            return True

    async def aflush(self) -> bool:
        """``flush_now`` from async code, in a worker thread."""
        result: bool = await database_sync_to_async(self.flush_now)()
        return result

    def _ensure_flusher(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # sync code: flushed by flush_now or at exit
            return
        if self._task_loop is loop and self._task is not None and not self._task.done():
            return
        self._task_loop = loop
        self._task = loop.create_task(self._flush_loop(), name="stats-flusher")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.aflush()
            except Exception:
                logger.warning("statistics flush failed; will retry", exc_info=True)

    async def stop(self) -> None:
        """Stop the flusher task of this loop and flush what is left."""
        task, self._task, self._task_loop = self._task, None, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.aflush()


# --- Writing --------------------------------------------------------------------------------


def _add(
    model: type[Model],
    where: Q,
    increments: Mapping[str, int],
    extra: Mapping[str, Any],
    create: Mapping[str, Any],
) -> None:
    """Add ``increments`` to the ``model`` row ``where`` selects, creating it if missing.

    UPDATE first (the common case); when no row matched, INSERT ``create`` in a savepoint;
    when a concurrent flush inserted the row first (IntegrityError), UPDATE again.
    """
    changes: dict[str, Any] = {
        name: F(name) + amount for name, amount in increments.items() if amount
    }
    changes.update(extra)
    if not changes:
        return
    queryset = model._default_manager.filter(where)
    if queryset.update(**changes):
        return
    try:
        with transaction.atomic():
            model._default_manager.create(**create)
    except IntegrityError:
        queryset.update(**changes)


def _existing_users(pending: Pending) -> set[int]:
    ids = set(pending.users) | {uid for _, uid in pending.days if uid is not None}
    ids |= {event.user_id for event in pending.events if event.user_id is not None}
    if not ids:
        return set()
    return set(User.objects.filter(pk__in=ids).values_list("pk", flat=True))


def write_pending(pending: Pending, now: datetime) -> None:
    """One transaction adding ``pending`` to the stored statistics."""
    # Read before the transaction: on SQLite a transaction that reads first cannot upgrade to
    # writing while another process writes ("database is locked"), one that writes first waits.
    existing = _existing_users(pending)  # accounts deleted meanwhile are left out
    with transaction.atomic():
        for user_id, t in pending.users.items():
            if user_id not in existing:
                continue
            totals = {
                "notes_played": t.notes,
                "chat_messages": t.messages,
                "seconds_in_rooms": round(t.seconds),
                "rooms_joined": t.joins,
                "sessions": t.sessions,
            }
            _add(
                UserStats,
                Q(user_id=user_id),
                totals,
                {"last_seen": now},
                {"user_id": user_id, "last_seen": now, **totals},
            )
        for (day, day_user), t in pending.days.items():
            if day_user is not None and day_user not in existing:
                continue
            day_counts = {
                "notes": t.notes,
                "messages": t.messages,
                "seconds": round(t.seconds),
                "joins": t.joins,
            }
            if not any(day_counts.values()):
                continue
            who = Q(user_id=day_user) if day_user is not None else Q(user__isnull=True)
            _add(
                DailyActivity,
                who & Q(date=day),
                day_counts,
                {},
                {"date": day, "user_id": day_user, **day_counts},
            )
        for room_id, room in pending.rooms.items():
            extra: dict[str, Any] = {"peak_members": Greatest(F("peak_members"), room.peak)}
            if room.name:
                extra["room_name"] = room.name
            _add(
                RoomStats,
                Q(room_id=room_id),
                {"notes": room.notes, "messages": room.messages},
                extra,
                {
                    "room_id": room_id,
                    "room_name": room.name,
                    "notes": room.notes,
                    "messages": room.messages,
                    "peak_members": room.peak,
                },
            )
        for event in pending.events:
            if event.user_id is not None and event.user_id not in existing:
                event.user_id = None
        Event.objects.bulk_create(pending.events, batch_size=500)


# --- The process's recorder ---------------------------------------------------------------------

recorder = StatsRecorder()

record_notes = recorder.record_notes
record_chat = recorder.record_chat
record_join = recorder.record_join
record_leave = recorder.record_leave
record_session = recorder.record_session
record_peak = recorder.record_peak
flush_now = recorder.flush_now
aflush = recorder.aflush

_exit_hook_installed = False


def flush_at_exit() -> None:
    """Flush what is left; the atexit hook (and the lead's shutdown code) call this."""
    try:
        recorder.flush_now()
    except Exception:
        logger.exception("could not flush statistics at exit")


def install_exit_flush() -> None:
    """Register ``flush_at_exit`` with atexit, once per process."""
    global _exit_hook_installed
    if not _exit_hook_installed:
        atexit.register(flush_at_exit)
        _exit_hook_installed = True
