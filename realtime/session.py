"""One player's connection: its identity, its room, its limits and its outbox.

The consumer owns the socket; a ``PlayerSession`` owns everything else about the player on
it. Everything sent to the player goes through one bounded outbox drained by one writer
task, so replies and broadcasts keep their order, several queued messages leave as one
frame, and a player who stops reading is disconnected instead of growing memory.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

from observability import metrics
from realtime import lateness, quotas, tasks
from realtime.backpressure import TransportProbe
from realtime.closing import CloseCode
from realtime.codec import EncodedMessage, Encoding, error_message, join_encoded, join_within
from realtime.events import ControlEvent
from realtime.exceptions import ClientGoneError
from realtime.identity import Identity
from realtime.messages import RoomSnapshot, actor_of, server
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.runtime import Runtime
from rooms import rules

logger = logging.getLogger(__name__)

#: Messages waiting for a socket that is not reading; past this it is disconnected.
OUTBOX_LIMIT = 2000
#: Bytes the interface server may hold for a socket that is not reading (where it says).
SEND_BACKLOG_LIMIT = 512 * 1024
#: A note batch that waited longer than this in an outbox is too late to play (the web client
#: plays others' notes a quarter of a second after they were sent): only its releases go out
#: (docs/architecture.md, Overload).
LATE_SECONDS = 0.2

SendFrame = Callable[[bytes | str], Coroutine[Any, Any, None]]
ControlHandler = Callable[["PlayerSession", str, ControlEvent], Coroutine[Any, Any, None]]
Departure = Callable[["PlayerSession"], Coroutine[Any, Any, None]]


class PlayerSession:
    # Slots: past 30 attributes an instance no longer shares its class's attribute keys and
    # carries a dict of its own, ~1.5 KB on every socket, idle ones included (README,
    # Benchmark: RSS per idle socket). A new attribute must be named here.
    __slots__ = (
        "_actor",
        "_arrival",
        "_bad_frames",
        "_chat_limits",
        "_close_socket",
        "_context",
        "_crowned_actor",
        "_cursor_gate",
        "_identity",
        "_on_broken",
        "_on_control",
        "_outbox",
        "_queued_at",
        "_refused_requests",
        "_request_limit",
        "_send_frame",
        "_transport",
        "_waiter",
        "_writer",
        "closed",
        "connection_keys",
        "cursor_timer",
        "departed",
        "encoding",
        "flood",
        "flood_noticed",
        "joined_at",
        "last_seen",
        "lock",
        "muted_until",
        "note_tier",
        "pending_cursor",
        "room",
        "runtime",
        "session_id",
        "share",
        "watching_room_list",
    )

    def __init__(
        self,
        identity: Identity,
        encoding: Encoding,
        runtime: Runtime,
        send_frame: SendFrame,
        close_socket: Callable[[int], Coroutine[Any, Any, None]],
        on_control: ControlHandler,
        transport: TransportProbe | None = None,
        on_broken: Departure | None = None,
    ) -> None:
        self.session_id = secrets.token_hex(8)
        self._identity = identity
        # The rules' views of the player, made when first asked for (most idle sockets never
        # act in a room).
        self._actor: rules.Actor | None = None
        self._crowned_actor: rules.Actor | None = None
        self.encoding = encoding
        self.runtime = runtime
        self._send_frame = send_frame
        self._close_socket = close_socket
        self._on_control = on_control
        self._transport = transport
        #: Takes the player out of the hub and its room when its socket breaks.
        self._on_broken = on_broken
        #: The consumer's context as of ``start`` (its log fields), for background tasks.
        self._context = contextvars.Context()

        self.room: RoomSnapshot | None = None
        self.joined_at = 0.0  # time.monotonic() of entering the current room
        self.muted_until: float | None = None  # time.time(); inf when until lifted
        self.watching_room_list = False
        #: Serialises state changes (join, leave, removal) between frames and control events.
        self.lock = asyncio.Lock()

        now = time.monotonic()
        #: The note quota tier of the current room and ownership (realtime.quotas).
        self.note_tier = quotas.LOBBY_TIER
        # Made on first use: most sockets never chat or send a bad frame, and a thousand
        # idle sockets should cost as little as they can (README, Benchmark: RSS per idle socket).
        self._chat_limits: dict[bool, quotas.SlidingWindowLimiter] | None = None
        self._bad_frames: quotas.BadFrameCounter | None = None
        self._arrival: lateness.ArrivalLag | None = None
        self._request_limit: quotas.RateLimiter | None = None
        self._refused_requests: quotas.RefusedRequests | None = None
        self.flood = quotas.FloodGuard(now=now)
        #: What this socket shares with the player's others in this process, once counted in.
        self.share: quotas.PlayerShare | None = None
        self._cursor_gate: quotas.IntervalGate | None = None
        #: The newest cursor position waiting for its turn, and the timer that sends it.
        self.pending_cursor: tuple[float, float] | None = None
        self.cursor_timer: asyncio.TimerHandle | None = None
        #: Whether the current run of dropped frames has been answered with RATE_LIMITED.
        self.flood_noticed = False
        self.last_seen = now

        # A list, swapped out whole by the writer: an empty deque costs a 500-byte block.
        self._outbox: list[EncodedMessage] = []
        #: When (time.monotonic) each message in the outbox was queued.
        self._queued_at: list[float] = []
        self._waiter: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        #: Set once the socket has left the hub and its room (disconnect or shutdown).
        self.departed = False
        #: The per-address and per-account limits this socket is counted against.
        self.connection_keys: tuple[str, ...] = ()

    # -- identity as the hub sees it ----------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    @property
    def identity(self) -> Identity:
        return self._identity

    @identity.setter
    def identity(self, identity: Identity) -> None:
        self._identity = identity
        self._actor = None
        self._crowned_actor = None

    @property
    def arrival(self) -> lateness.ArrivalLag:
        """How late this socket's note batches arrive (made on the first one)."""
        if self._arrival is None:
            self._arrival = lateness.ArrivalLag()
        return self._arrival

    @property
    def actor(self) -> rules.Actor:
        """The rules' view of this player, kept with the identity (checked on every batch),
        crowned while the player holds its room's crown."""
        room = self.room
        if room is None or not room.crown or room.crown != self._identity.user_id:
            if self._actor is None:
                self._actor = actor_of(self._identity)
            return self._actor
        if self._crowned_actor is None:
            self._crowned_actor = actor_of(self._identity, crowned=True)
        return self._crowned_actor

    @property
    def is_owner(self) -> bool:
        """The player has the owner's powers in its room (owns it, or holds its crown)."""
        return self.room is not None and rules.is_owner(self.actor, self.room.view())

    @property
    def player_key(self) -> str:
        """Whose quotas this socket spends: its account's, or for a guest its address's (a
        guest reconnecting, or many guest sockets of one address, are one player)."""
        identity = self._identity
        if identity.account_id is not None:
            return f"u{identity.account_id}"
        if identity.address_key:
            return f"a{identity.address_key}"
        return f"g{identity.user_id}"

    def connection_limits(self, per_address: int, per_account: int) -> list[tuple[str, int]]:
        """The limit this socket counts against: its account's, or for a guest its address's.

        Accounts are not counted by address: a school or a carrier puts many players behind
        one address, and each account already has its own limit.
        """
        if self._identity.account_id is not None:
            return [(f"user:{self._identity.account_id}", per_account)]
        if self._identity.address_key:
            return [(f"addr:{self._identity.address_key}", per_address)]
        return []

    def chat_limit(self, *, privileged: bool) -> quotas.SlidingWindowLimiter:
        """This player's chat rate limit (owners and moderators have a larger one)."""
        limits = self._chat_limits
        if limits is None:
            limits = self._chat_limits = {}
        limiter = limits.get(privileged)
        if limiter is None:
            limiter = limits[privileged] = quotas.chat_limiter(privileged=privileged)
        return limiter

    @property
    def cursor_gate(self) -> quotas.IntervalGate:
        """The player's cursor gate, shared by its sockets in this process."""
        if self.share is not None:
            return self.share.cursor
        if self._cursor_gate is None:
            self._cursor_gate = quotas.IntervalGate(quotas.CURSOR_MIN_INTERVAL)
        return self._cursor_gate

    def cancel_pending_cursor(self) -> None:
        self.pending_cursor = None
        if self.cursor_timer is not None:
            self.cursor_timer.cancel()
            self.cursor_timer = None

    @property
    def request_limit(self) -> quotas.RateLimiter:
        """This socket's budget of costly requests (joins, room lists): 1 a second, 10 at once."""
        if self._request_limit is None:
            self._request_limit = quotas.RateLimiter(1.0, 10, time.monotonic())
        return self._request_limit

    @property
    def refused_requests(self) -> quotas.RefusedRequests:
        """Costly requests refused to this socket: answered once per run, closed if endless."""
        if self._refused_requests is None:
            self._refused_requests = quotas.RefusedRequests()
        return self._refused_requests

    @property
    def bad_frames(self) -> quotas.BadFrameCounter:
        if self._bad_frames is None:
            self._bad_frames = quotas.BadFrameCounter()
        return self._bad_frames

    @property
    def muted(self) -> bool:
        return self.muted_until is not None and self.muted_until > time.time()

    # -- sending ------------------------------------------------------------------------------

    def start(self) -> None:
        self._context = contextvars.copy_context()
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.session_id}")

    def send(self, message: pb.ServerMessage) -> None:
        """Queue a message for this player only."""
        self.deliver(EncodedMessage(message))

    def deliver(self, message: EncodedMessage) -> None:
        """Queue a (broadcast) message; never blocks. The hub calls this for every member."""
        if self.closed:
            return
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._disconnect_slow("outbox full")
            return
        self._outbox.append(message)
        self._queued_at.append(time.monotonic())
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _disconnect_slow(self, why: str) -> None:
        """The player is not reading: keeping their backlog would grow memory without bound."""
        if self.closed:
            return
        self.closed = True
        metrics.outbound_dropped(len(self._outbox))
        metrics.slow_client_disconnected()
        self._outbox.clear()
        self._queued_at.clear()
        logger.info("session %s disconnected: %s", self.session_id, why)
        if self._transport is not None:
            self._transport.abort()
        else:
            tasks.spawn(self._close_socket(CloseCode.POLICY_VIOLATION), f"close-{self.session_id}")

    def control(self, topic: str, event: ControlEvent) -> None:
        if self.closed:
            return
        # In this socket's own context (its log fields), never in that of whoever published
        # the event: a signal receiver's async_to_sync context dies with its thread.
        tasks.spawn(
            self._on_control(self, topic, event),
            f"control-{self.session_id}",
            self._context.copy(),
        )

    async def _write_loop(self) -> None:
        try:
            while True:
                if not self._outbox:
                    self._waiter = asyncio.get_running_loop().create_future()
                    await self._waiter
                    self._waiter = None
                await self._flush()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._send_failed(exc)

    async def _flush(self) -> None:
        limit = self.runtime.frame_limit
        while self._outbox:
            batch, self._outbox = self._outbox, []
            queued_at, self._queued_at = self._queued_at, []
            if queued_at and queued_at[0] < time.monotonic() - LATE_SECONDS:
                batch = _without_late_notes(batch, queued_at)
            # Coalesced, but never past the frame limit: the interface server refuses (or
            # fails on) a bigger frame, which would leave the socket deaf.
            frames, too_large = join_within(self.encoding, batch, limit)
            for message in too_large:
                frames.append(self._refuse_oversized(message, limit))
            for frame in frames:
                await self._send_frame(frame)
                if self._transport is not None and self._transport.backlog() > SEND_BACKLOG_LIMIT:
                    self._disconnect_slow("send backlog over the limit")
                    return

    def _refuse_oversized(self, message: EncodedMessage, limit: int) -> bytes | str:
        """A message no frame can hold (a bug: every message is bounded below the limit by
        design) is not sent; the player is told, and the log says which."""
        logger.warning(
            "session %s: a %s message of %d bytes is over the %d-byte frame limit; not sent",
            self.session_id,
            message.kind,
            message.size(self.encoding),
            limit,
        )
        metrics.outbound_dropped()
        notice = EncodedMessage(error_message("INTERNAL", "A message too large to send was lost."))
        return join_encoded(self.encoding, [notice])

    def _send_failed(self, exc: Exception) -> None:
        """A send raised: close the socket (1011) and take the player out of its room, so it
        neither stays deaf nor keeps a seat."""
        if self.closed:
            logger.info("session %s: send failed while closing: %s", self.session_id, exc)
            return
        self.closed = True
        if isinstance(exc, ClientGoneError):
            logger.info("session %s: the client has gone", self.session_id)
        else:
            logger.warning(
                "session %s: a send failed (%s: %s); closing the socket",
                self.session_id,
                type(exc).__name__,
                exc,
            )
        metrics.outbound_dropped(len(self._outbox))
        self._outbox.clear()
        self._queued_at.clear()
        tasks.spawn(self._abandon(), f"abandon-{self.session_id}", self._context.copy())

    async def _abandon(self) -> None:
        try:
            # A send failed: the socket cannot be trusted to deliver anything more.
            await self._close_socket(CloseCode.SEND_FAILED)
        except Exception as exc:  # the socket may be past closing; the departure still counts
            logger.warning("session %s: could not close a broken socket: %s", self.session_id, exc)
            if self._transport is not None:
                self._transport.abort()
        if self._on_broken is not None:
            await self._on_broken(self)

    async def close(self, code: int) -> None:
        """Send what is queued (a ``removed`` notice, say), then close the socket."""
        if self._writer is not None:
            self._writer.cancel()
        if not self.closed:
            self.closed = True
            try:
                await self._flush()
            except Exception:
                logger.debug("session %s: final flush failed", self.session_id, exc_info=True)
        await self._close_socket(code)

    def stop(self) -> None:
        self.closed = True
        self.cancel_pending_cursor()
        if self._writer is not None:
            self._writer.cancel()

    # -- limits -------------------------------------------------------------------------------

    def refresh_quota_tier(self) -> None:
        """Pick the note quota tier for the current room and ownership, telling the player
        when it changed."""
        room = self.room
        tier = quotas.tier_for(
            is_lobby=room is None or room.is_lobby,
            is_owner=self.is_owner,
            unlimited=room is not None and bool(room.settings.get("unlimited_notes")),
        )
        if tier == self.note_tier:
            return
        self.note_tier = tier
        self.send(server(note_quota=pb.NoteQuota(**quotas.note_quota_fields(tier))))

    def describe(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "user": self.identity.user_id,
            "room": self.room.id if self.room else None,
        }


def _without_late_notes(
    batch: list[EncodedMessage], queued_at: list[float]
) -> list[EncodedMessage]:
    """``batch`` with the note batches queued over LATE_SECONDS ago cut to their releases
    (or left out); everything else as it was, in order. The socket's writer fell behind (the
    process is past what it can carry): what it sends next is what can still be played."""
    late = bisect.bisect_left(queued_at, time.monotonic() - LATE_SECONDS)
    kept: list[EncodedMessage] = []
    shed = 0
    for message in batch[:late]:
        trimmed = message.late()
        if trimmed is not message:
            shed += 1
        if trimmed is not None:
            kept.append(trimmed)
    if shed:
        metrics.late_notes_shed(shed, "outbox")
    kept.extend(batch[late:])
    return kept
