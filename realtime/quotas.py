"""Rate limits of the real-time protocol, as pure rules (no Django, no I/O).

Every method takes ``now``, monotonic seconds (``time.monotonic()`` in the consumer), so the
rules are tested with a fake clock and a socket's limits cost no system call of their own.

- Note quota tiers: notes a player may play, MPP's tiers; excess notes are dropped (the
  buckets themselves are shared by a player's sockets: ``realtime.buckets``).
- ``FloodGuard``: frames per socket; over the rate a frame is dropped (RATE_LIMITED), and a
  sustained flood closes the socket (4429).
- ``chat_limiter``: chat messages per member, 4 per 4 s (owner and moderators 10).
- ``BadFrameCounter``: malformed frames per socket; too many in a window close it (4400).
- ``IntervalGate``: at most one event per interval (cursor moves); later ones wait their turn.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass, field

# Refills are float sums (0.1 s * 100/s may come to 9.999...): without a little slack a token
# due exactly now would be refused.
_SLACK = 1e-9


class RateLimiter:
    """A token bucket: ``rate`` tokens per second, holding at most ``burst``; starts full."""

    # Slots here and in the other limits every socket has (``FloodGuard``, ``IntervalGate``):
    # no attribute dict on each (README, Benchmark: RSS per idle socket).
    __slots__ = ("_tokens", "_updated", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if not (rate > 0 and burst >= 1 and math.isfinite(rate) and math.isfinite(burst)):
            raise ValueError(f"need rate > 0 and burst >= 1, got rate={rate}, burst={burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated = now

    def _refill(self, now: float) -> None:
        # max(): a clock that steps back must not take tokens away.
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = max(self._updated, now)

    def tokens(self, now: float) -> float:
        """Tokens available at ``now``."""
        self._refill(now)
        return self._tokens

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if all are available; return whether they were."""
        self._refill(now)
        if self._tokens + _SLACK < cost:
            return False
        self._tokens = max(0.0, self._tokens - cost)
        return True

    def take(self, n: int, now: float) -> int:
        """Take up to ``n`` whole tokens; return how many were taken."""
        if n < 0:
            raise ValueError(f"cannot take a negative number of tokens: {n}")
        self._refill(now)
        taken = min(n, math.floor(self._tokens + _SLACK))
        self._tokens = max(0.0, self._tokens - taken)
        return taken


# --- Notes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteQuotaTier:
    """``allowance`` notes per ``interval_ms``, bursting to ``max``; or no limit at all."""

    allowance: int
    max: int
    interval_ms: int
    unlimited: bool = False


LOBBY_TIER = NoteQuotaTier(allowance=200, max=600, interval_ms=2000)
ROOM_TIER = NoteQuotaTier(allowance=400, max=1200, interval_ms=2000)
OWNER_TIER = NoteQuotaTier(allowance=600, max=1800, interval_ms=2000)
# Sent as zeros in the NoteQuota message: a max of 0 tells the client there is no limit.
UNLIMITED_TIER = NoteQuotaTier(allowance=0, max=0, interval_ms=0, unlimited=True)


def tier_for(*, is_lobby: bool, is_owner: bool, unlimited: bool) -> NoteQuotaTier:
    """The note quota of a member: the room's ``unlimited_notes`` wins, then the lobby tier
    (lobbies have no owner), then owner, then everyone else."""
    if unlimited:
        return UNLIMITED_TIER
    if is_lobby:
        return LOBBY_TIER
    return OWNER_TIER if is_owner else ROOM_TIER


def note_rate(tier: NoteQuotaTier) -> float:
    """Notes per second a tier refills (its bucket holds ``tier.max``)."""
    return tier.allowance * 1000 / tier.interval_ms


def note_quota_fields(tier: NoteQuotaTier) -> dict[str, int]:
    """Fields of the ``NoteQuota`` server message for ``tier`` (zeros: no limit)."""
    return {"allowance": tier.allowance, "max": tier.max, "interval_ms": tier.interval_ms}


# --- Frames and chat ----------------------------------------------------------------------


class SlidingWindowLimiter:
    """At most ``limit`` events in any ``window`` seconds (exact, unlike a token bucket, which
    lets a full burst follow a full window: "4 messages / 4 s" means four)."""

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or not window > 0:
            raise ValueError(f"need limit >= 1 and window > 0, got {limit}, {window}")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque(maxlen=limit)

    def allow(self, now: float) -> bool:
        """Record an event at ``now`` if the window has room; return whether it had."""
        if len(self._times) == self.limit and now - self._times[0] < self.window:
            return False
        self._times.append(now)
        return True


#: Cursor moves relayed per socket: at most one per this many seconds (25 a second).
CURSOR_MIN_INTERVAL = 0.04

CHAT_LIMIT = 4
CHAT_LIMIT_PRIVILEGED = 10
CHAT_WINDOW = 4.0


def chat_limiter(*, privileged: bool) -> SlidingWindowLimiter:
    """Chat rate of one member: 4 messages per 4 s; 10 for the owner and moderators."""
    return SlidingWindowLimiter(CHAT_LIMIT_PRIVILEGED if privileged else CHAT_LIMIT, CHAT_WINDOW)


class BadFrameCounter:
    """Malformed frames of one socket: each gets a BAD_MESSAGE error, but ``max_bad`` within
    ``window`` seconds means a broken or hostile client, to be closed with 4400."""

    def __init__(self, max_bad: int = 10, window: float = 10.0) -> None:
        if max_bad < 1 or not window > 0:
            raise ValueError(f"need max_bad >= 1 and window > 0, got {max_bad}, {window}")
        self.max_bad = max_bad
        self.window = window
        self._times: deque[float] = deque(maxlen=max_bad)

    def record(self, now: float) -> bool:
        """Count a bad frame; return True when the socket should be closed (4400)."""
        self._times.append(now)
        return len(self._times) == self.max_bad and now - self._times[0] < self.window


class FloodVerdict(enum.StrEnum):
    OK = "ok"
    DROP = "drop"  # discard the frame, answer RATE_LIMITED
    CLOSE = "close"  # close the socket with 4429


#: What a frame costs in the frame budgets: one, and one more for every 8 KiB, so that the
#: budgets bound the bytes a client makes the server decode as well as the frames.
FRAME_COST_BYTES = 8192


def frame_cost(size: int) -> float:
    return 1.0 + size // FRAME_COST_BYTES


#: A player's frames in one process, all of its sockets together: twice one socket's. The
#: process's own CPU is what it protects, so it is not shared between instances.
PLAYER_FRAME_RATE = 400.0
PLAYER_FRAME_BURST = 800.0


@dataclass(slots=True)
class PlayerShare:
    """What all of a player's sockets in this process share: its frame budget and its cursor
    gate (one relayed cursor move per ``CURSOR_MIN_INTERVAL``, however many sockets move).

    Both are made on first use: most players on an idle socket never send a frame or move a
    cursor (README, Benchmark: RSS per idle socket). A bucket starts full and a gate open, so
    one made later is the one that would have been waiting since the share was made.
    """

    rate: float
    burst: float
    sockets: int = 0
    _frames: RateLimiter | None = field(default=None, init=False, repr=False)
    _cursor: IntervalGate | None = field(default=None, init=False, repr=False)

    def frames(self, now: float) -> RateLimiter:
        """The player's frame budget (``now``: the time of the frame asking)."""
        if self._frames is None:
            self._frames = RateLimiter(self.rate, self.burst, now)
        return self._frames

    @property
    def cursor(self) -> IntervalGate:
        if self._cursor is None:
            self._cursor = IntervalGate(CURSOR_MIN_INTERVAL)
        return self._cursor


class PlayerShares:
    """One ``PlayerShare`` per player for the sockets it has open in this process, so that 32
    guest sockets of one address cost the server no more than two would. A player's share
    goes with its last socket here."""

    def __init__(self, rate: float = PLAYER_FRAME_RATE, burst: float = PLAYER_FRAME_BURST) -> None:
        self.rate = rate
        self.burst = burst
        self._shares: dict[str, PlayerShare] = {}

    def acquire(self, player: str) -> PlayerShare:
        """The share of ``player``, for one more of its sockets (``release`` it after)."""
        share = self._shares.get(player)
        if share is None:
            share = self._shares[player] = PlayerShare(self.rate, self.burst)
        share.sockets += 1
        return share

    def release(self, player: str) -> None:
        share = self._shares.get(player)
        if share is None:
            return
        share.sockets -= 1
        if share.sockets <= 0:
            del self._shares[player]

    def __len__(self) -> int:
        return len(self._shares)


class FloodGuard:
    """Frames per socket: a token bucket (default 200/s, burst 400) decides each frame, and
    with it the player's budget (``PlayerShare.frames``) when there is one; a frame costs
    ``frame_cost`` of its size.

    Over the rate, frames are dropped. A flood is *sustained* (close 4429) when drops go on
    for ``close_after`` seconds, or reach ``max_drops``, without a ``quiet`` gap between two
    drops; a client that overshoots briefly and then calms down is never closed. Once the
    verdict is CLOSE it stays CLOSE, so frames queued behind the flood are not acted on.
    """

    __slots__ = (
        "_bucket",
        "_closed",
        "_drops",
        "_flood_started",
        "_last_drop",
        "close_after",
        "max_drops",
        "quiet",
    )

    def __init__(
        self,
        now: float,
        *,
        rate: float = 200.0,
        burst: float = 400.0,
        close_after: float = 3.0,
        max_drops: int = 1000,
        quiet: float = 1.0,
    ) -> None:
        if not (close_after > 0 and quiet > 0 and max_drops >= 1):
            raise ValueError("need close_after > 0, quiet > 0 and max_drops >= 1")
        self._bucket = RateLimiter(rate, burst, now)
        self.close_after = close_after
        self.max_drops = max_drops
        self.quiet = quiet
        self._flood_started: float | None = None
        self._last_drop = 0.0
        self._drops = 0
        self._closed = False

    def check(
        self, now: float, cost: float = 1.0, player: RateLimiter | None = None
    ) -> FloodVerdict:
        """Decide the fate of one incoming frame costing ``cost``."""
        if self._closed:
            return FloodVerdict.CLOSE
        if self._bucket.allow(now, cost) and (player is None or player.allow(now, cost)):
            return FloodVerdict.OK
        if self._flood_started is None or now - self._last_drop >= self.quiet:
            self._flood_started = now
            self._drops = 0
        self._drops += 1
        self._last_drop = now
        if self._drops >= self.max_drops or now - self._flood_started >= self.close_after:
            self._closed = True
            return FloodVerdict.CLOSE
        return FloodVerdict.DROP


class RefusalVerdict(enum.StrEnum):
    ANSWER = "answer"  # answer RATE_LIMITED: the first refusal since a request went through
    QUIET = "quiet"  # drop it unanswered: the client has its answer already
    CLOSE = "close"  # close the socket with 4429


class RefusedRequests:
    """Costly requests refused to one socket over its budget.

    The first refusal of a run is answered; the rest of the run (until a request goes
    through) is dropped unanswered, so a client hammering the server is not answered in kind.
    ``max_refused`` refusals within ``window`` seconds is a client that does not listen: it is
    closed (4429). Any client pacing its requests to the budget never gets near that.
    """

    def __init__(self, max_refused: int = 50, window: float = 10.0) -> None:
        if max_refused < 1 or not window > 0:
            raise ValueError(f"need max_refused >= 1 and window > 0, got {max_refused}, {window}")
        self.window = window
        self._times: deque[float] = deque(maxlen=max_refused)
        self._answered = False

    def refuse(self, now: float) -> RefusalVerdict:
        self._times.append(now)
        if len(self._times) == self._times.maxlen and now - self._times[0] < self.window:
            return RefusalVerdict.CLOSE
        if self._answered:
            return RefusalVerdict.QUIET
        self._answered = True
        return RefusalVerdict.ANSWER

    def granted(self) -> None:
        """A request went through: the next refusal starts a new run and is answered."""
        self._answered = False


class IntervalGate:
    """At most one event per ``interval`` seconds. An event that comes too soon is not refused
    but told how long to wait; the caller keeps only the latest of those (a cursor's newest
    position) and sends it then, so the last move always arrives."""

    __slots__ = ("_next", "interval")

    def __init__(self, interval: float) -> None:
        if not interval > 0:
            raise ValueError(f"need interval > 0, got {interval}")
        self.interval = interval
        self._next = -math.inf

    def delay(self, now: float) -> float:
        """0.0 if an event may go at ``now`` (it is counted); else the seconds to wait."""
        if now >= self._next:
            self._next = now + self.interval
            return 0.0
        return self._next - now
