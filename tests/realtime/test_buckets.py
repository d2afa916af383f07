"""Shared token buckets (realtime.buckets): one contract for the in-process and the Redis
store (against a real Redis), and the leases a process takes on the hot path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realtime.buckets import (
    LEASE_SECONDS,
    Allowance,
    Allowances,
    BucketStore,
    MemoryBuckets,
    RedisBuckets,
)
from realtime.quotas import LOBBY_TIER, OWNER_TIER, ROOM_TIER, note_rate
from tests.realtime.conftest import REDIS_URL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[BucketStore]:
    if request.param == "memory":
        yield MemoryBuckets()
        return
    made = RedisBuckets(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
    yield made
    await made.close()


def tier_args(tier: object) -> tuple[float, float]:
    return note_rate(tier), tier.max  # type: ignore[arg-type, attr-defined]


async def test_a_new_bucket_gives_its_burst_then_nothing(store: BucketStore) -> None:
    rate, burst = tier_args(LOBBY_TIER)
    assert await store.take("p", 500, rate, burst) == 500
    assert await store.take("p", 300, rate, burst) == 100
    assert await store.take("p", 1, rate, burst) == 0
    assert await store.take("someone else", 600, rate, burst) == 600


async def test_a_bucket_keeps_what_was_spent_when_its_tier_changes(store: BucketStore) -> None:
    room, owner = tier_args(ROOM_TIER), tier_args(OWNER_TIER)
    assert await store.take("p", 1000, *room) == 1000
    # The crown: a bigger bucket, but the notes already played count.
    assert await store.take("p", 2000, *owner) <= 800 + 5
    assert await store.take("p", 10, *room) == 0


async def test_taking_nothing_takes_nothing(store: BucketStore) -> None:
    assert await store.take("p", 0, 1.0, 4) == 0
    assert await store.take("p", 4, 1.0, 4) == 4


async def test_memory_buckets_refill_at_their_rate() -> None:
    clock = Clock()
    store = MemoryBuckets(clock)
    rate, burst = tier_args(ROOM_TIER)
    assert await store.take("p", 1200, rate, burst) == 1200
    clock.now += 2.0
    assert await store.take("p", 1000, rate, burst) == 400
    clock.now += 1.0
    assert await store.take("p", 1000, rate, burst) == 200


async def test_memory_buckets_sustain_the_allowance_rate() -> None:
    clock = Clock()
    store = MemoryBuckets(clock)
    rate, burst = tier_args(LOBBY_TIER)
    await store.take("p", 600, rate, burst)
    allowed = 0
    for _ in range(50):  # a batch every 200 ms for 10 s: 200 notes per 2 s, no more
        clock.now += 0.2
        allowed += await store.take("p", 100, rate, burst)
    assert allowed == 1000


async def test_a_lease_takes_ahead_and_spends_locally() -> None:
    class Counting(MemoryBuckets):
        calls = 0

        async def take(self, key: str, count: int, rate: float, burst: float) -> int:
            self.calls += 1
            return await super().take(key, count, rate, burst)

    store = Counting()
    allowance = Allowance(store, "p", lease=True)
    rate, burst = tier_args(LOBBY_TIER)
    for n in range(5):  # 5 batches of 4 notes within a quarter second
        assert await allowance.take(4, rate, burst, now=n * 0.01) == 4
    assert store.calls == 1  # one lease covered them all


async def test_a_lease_left_unused_is_dropped_not_kept() -> None:
    clock = Clock()
    store = MemoryBuckets(clock)
    allowance = Allowance(store, "p", lease=True)
    rate, burst = 4.0, 4
    assert await allowance.take(1, rate, burst, now=0.0) == 1  # leases 1 + 1 ahead
    later = LEASE_SECONDS + 0.1
    clock.now += later
    # The leased token is gone; the bucket refilled meanwhile: it is the shared bucket
    # that decides, never tokens hoarded by one process.
    assert await allowance.take(4, rate, burst, now=later) == 4
    assert await allowance.take(1, rate, burst, now=later) == 0


async def test_sockets_of_one_player_share_one_allowance() -> None:
    allowances = Allowances(MemoryBuckets(), shared=False)
    assert allowances.get("notes:u1:room") is allowances.get("notes:u1:room")
    assert not allowances.get("notes:u1:room").lease  # nothing to lease in one process
    assert Allowances(MemoryBuckets(), shared=True).get("k").lease
    assert not Allowances(MemoryBuckets(), shared=True).get("k", lease=False).lease
