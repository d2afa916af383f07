"""Token buckets shared by every instance: a player's note and chat quotas hold across all of
its sockets, whichever instance each is on.

A player is an account, or for a guest its address: many sockets of one person (tabs,
reconnected guests, a script) share one budget. ``BucketStore`` has two backends with one
contract (the tests run both): ``MemoryBuckets`` in this process, ``RedisBuckets`` in Redis,
where a Lua script refills and takes atomically on Redis' own clock, so instances with
different clocks agree.

Notes are the hot path: a Redis round trip per note batch would cost every batch latency.
``Allowance`` therefore takes a process's tokens from the shared bucket in small leases
(a quarter of a second's worth beyond what is asked) and spends them locally; a lease not
used within LEASE_SECONDS is dropped, so a player gets less, never more, than the quota.
With the in-process store there is nothing to lease and every take is local.

This module does not import Django; ``buckets_from_settings`` reads the settings lazily.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from realtime.presence import redis_client
from realtime.quotas import RateLimiter

#: How long a process keeps tokens it leased before it must ask again.
LEASE_SECONDS = 1.0
#: A lease asks for this many seconds' worth of tokens beyond the batch at hand.
LEASE_AHEAD_SECONDS = 0.25
#: Idle allowances and in-process buckets are forgotten after this long.
IDLE_SECONDS = 60.0


class BucketStore(Protocol):
    """Token buckets by key, shared by every instance."""

    async def take(self, key: str, count: int, rate: float, burst: float) -> int:
        """Take up to ``count`` whole tokens from ``key``'s bucket (``rate`` tokens a second,
        at most ``burst``, full when new); return how many were taken."""
        ...

    async def close(self) -> None: ...


class MemoryBuckets:
    """Buckets in this process (embedded mode). ``clock`` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[RateLimiter, float]] = {}

    async def take(self, key: str, count: int, rate: float, burst: float) -> int:
        now = self._clock()
        bucket = self._bucket(key, rate, burst, now)
        self._buckets[key] = (bucket, now)
        return bucket.take(count, now)

    def _bucket(self, key: str, rate: float, burst: float, now: float) -> RateLimiter:
        known = self._buckets.get(key)
        if known is None:
            return RateLimiter(rate, burst, now)
        bucket = known[0]
        if (bucket.rate, bucket.burst) != (rate, burst):
            # Another tier (the player took the crown): the spent tokens stay spent.
            spent = bucket.burst - bucket.tokens(now)
            bucket = RateLimiter(rate, burst, now)
            bucket.take(math.ceil(max(0.0, spent)), now)
        return bucket

    def prune(self) -> None:
        """Forget buckets nobody used for IDLE_SECONDS (full again by then, or nearly)."""
        cutoff = self._clock() - IDLE_SECONDS
        for key in [k for k, (_, used) in self._buckets.items() if used < cutoff]:
            del self._buckets[key]

    async def close(self) -> None:
        return None


# Redis: one hash per bucket, {p}:bucket:{key} -> t (tokens), u (last refill, ms on Redis'
# clock), expiring once it would be full again. KEYS: bucket. ARGV: count, rate, burst.
_TAKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local count, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil or updated == nil then
  tokens, updated = burst, ms
end
tokens = math.min(burst, tokens + math.max(0, ms - updated) * rate / 1000)
local taken = math.min(count, math.floor(tokens + 1e-9))
tokens = tokens - taken
redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens), 'u', ms)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return taken
"""


class RedisBuckets:
    """Buckets in Redis, shared by every instance."""

    def __init__(self, url: str, *, prefix: str = "pianorhythm") -> None:
        self._redis = redis_client(url)
        self._prefix = f"{prefix}:bucket"
        self._take = self._redis.register_script(_TAKE)

    async def take(self, key: str, count: int, rate: float, burst: float) -> int:
        if count <= 0:
            return 0
        taken = await self._take(keys=[f"{self._prefix}:{key}"], args=[count, rate, burst])
        return int(taken)

    async def close(self) -> None:
        await self._redis.aclose()


class Allowance:
    """This process's use of one shared bucket (a player's notes in a room, or chat)."""

    __slots__ = ("_expires", "_tokens", "key", "lease", "store", "used")

    def __init__(self, store: BucketStore, key: str, *, lease: bool) -> None:
        self.store = store
        self.key = key
        #: Take tokens ahead, in leases (the hot path on a shared store), or one take each.
        self.lease = lease
        self._tokens = 0
        self._expires = 0.0
        #: When (monotonic) it was last used, for forgetting idle ones.
        self.used = 0.0

    async def take(self, count: int, rate: float, burst: float, now: float) -> int:
        """Take up to ``count`` tokens at ``rate`` per second bursting to ``burst``; return
        how many may be used."""
        self.used = now
        if not self.lease:
            return await self.store.take(self.key, count, rate, burst)
        if now >= self._expires:
            self._tokens = 0
        if self._tokens < count:
            want = count - self._tokens + math.ceil(rate * LEASE_AHEAD_SECONDS)
            got = await self.store.take(self.key, want, rate, burst)
            if got:
                self._tokens += got
                self._expires = now + LEASE_SECONDS
        taken = min(count, self._tokens)
        self._tokens -= taken
        return taken


class Allowances:
    """The allowances of one process, by key, made on first use and forgotten when idle."""

    def __init__(self, store: BucketStore, *, shared: bool) -> None:
        self.store = store
        #: Whether the store is shared with other processes (leases pay off only then).
        self.shared = shared
        self._by_key: dict[str, Allowance] = {}

    def get(self, key: str, *, lease: bool = True) -> Allowance:
        allowance = self._by_key.get(key)
        if allowance is None:
            allowance = Allowance(self.store, key, lease=lease and self.shared)
            self._by_key[key] = allowance
        return allowance

    def prune(self, now: float) -> None:
        cutoff = now - IDLE_SECONDS
        for key in [k for k, a in self._by_key.items() if a.used < cutoff]:
            del self._by_key[key]
        if isinstance(self.store, MemoryBuckets):
            self.store.prune()

    async def close(self) -> None:
        await self.store.close()


def allowances_from_settings() -> Allowances:
    """The buckets the settings ask for: Redis when ``REDIS_URL`` is set, else in-process."""
    from django.conf import settings  # lazily, so the module itself stays Django-free

    url: str = settings.REDIS_URL
    if url:
        return Allowances(RedisBuckets(url, prefix=settings.REDIS_PREFIX), shared=True)
    return Allowances(MemoryBuckets(), shared=False)
