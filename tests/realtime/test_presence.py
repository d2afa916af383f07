"""Presence: the same behaviour from the in-process and the Redis backend.

Every test runs against both. "Instances" are separate store objects: for Redis each has its own
connection pool (as two server processes would); in process they share the one store, as all
consumers of an embedded server do. The Redis tests need the Redis at 127.0.0.1:6379 (or
``REDIS_URL``) and fail when it is not there; each uses its own random key prefix.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from realtime.presence import (
    InstanceNotAliveError,
    MemberRecord,
    MemoryPresence,
    PresenceError,
    PresenceStore,
    RedisPresence,
    presence_from_settings,
)
from tests.realtime.conftest import REDIS_URL

ROOM = "9b2f6a1e-room"
_counter = itertools.count(1)


class Backend:
    """Makes the stores of one test: ``store()`` is one more server instance's view."""

    def __init__(self, kind: str, prefix: str) -> None:
        self.kind = kind
        self.prefix = prefix
        self._stores: list[PresenceStore] = []

    def store(self, heartbeat_ttl: float = 10.0) -> PresenceStore:
        if self.kind == "memory":
            if not self._stores:
                self._stores.append(MemoryPresence(heartbeat_ttl=heartbeat_ttl))
            return self._stores[0]
        store = RedisPresence(REDIS_URL, prefix=self.prefix, heartbeat_ttl=heartbeat_ttl)
        self._stores.append(store)
        return store

    async def close(self) -> None:
        for store in self._stores:
            await store.close()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    prefix = request.getfixturevalue("redis_prefix") if request.param == "redis" else "memory"
    made = Backend(request.param, prefix)
    yield made
    await made.close()


def member(
    instance_id: str,
    *,
    user_id: str | None = None,
    joined_at: int | None = None,
    session_id: str | None = None,
    **fields: object,
) -> MemberRecord:
    n = next(_counter)
    values: dict[str, object] = {
        "session_id": session_id or f"session-{n}",
        "user_id": user_id or f"user-{n}",
        "username": f"player{n}",
        "display_name": f"Player {n}",
        "color": "#aabbcc",
        "role": "MEMBER",
        "is_guest": False,
        "instance_id": instance_id,
        "joined_at": joined_at if joined_at is not None else 1_700_000_000_000 + n,
        "muted": False,
    }
    values.update(fields)
    return MemberRecord(**values)  # type: ignore[arg-type]


async def started(store: PresenceStore, instance_id: str = "i1") -> PresenceStore:
    await store.heartbeat(instance_id)
    return store


# --- Records --------------------------------------------------------------------------------


def test_member_record_round_trips_through_json():
    record = member("i1", display_name='Zoë </script> "\u202e"', is_guest=True, muted=True)
    assert MemberRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize("raw", ["", "not json", "[]", '{"s": "x"}', "null"])
def test_member_record_rejects_garbage(raw):
    with pytest.raises(PresenceError, match="corrupt member record"):
        MemberRecord.from_json(raw)


# --- Join and capacity ------------------------------------------------------------------------


async def test_join_admits_until_room_is_full(backend):
    store = await started(backend.store())
    results = [await store.join(ROOM, member("i1"), capacity=3) for _ in range(4)]
    assert [r.admitted for r in results] == [True, True, True, False]
    assert [r.member_count for r in results] == [1, 2, 3, 3]
    assert await store.member_count(ROOM) == 3


async def test_join_twice_with_one_session_admits_without_adding(backend):
    store = await started(backend.store())
    record = member("i1")
    await store.join(ROOM, record, capacity=1)
    again = await store.join(ROOM, record, capacity=1)
    assert again.admitted
    assert again.already_member
    assert again.member_count == 1


async def test_join_counts_each_session_of_a_user(backend):
    store = await started(backend.store())
    first = await store.join(ROOM, member("i1", user_id="u-7"), capacity=2)
    second = await store.join(ROOM, member("i1", user_id="u-7"), capacity=2)
    third = await store.join(ROOM, member("i1", user_id="u-7"), capacity=2)
    assert (first.admitted, second.admitted, third.admitted) == (True, True, False)
    assert [m.user_id for m in await store.members(ROOM)] == ["u-7", "u-7"]


async def test_join_refuses_instance_without_heartbeat(backend):
    store = backend.store()
    with pytest.raises(InstanceNotAliveError):
        await store.join(ROOM, member("never-heartbeated"), capacity=5)
    assert await store.member_count(ROOM) == 0


@pytest.mark.parametrize("capacity", [0, -1, True, 2.5])
async def test_join_rejects_bad_capacity(backend, capacity):
    store = await started(backend.store())
    with pytest.raises(ValueError, match="capacity"):
        await store.join(ROOM, member("i1"), capacity=capacity)


async def test_capacity_race_across_two_instances_admits_exactly_capacity(backend):
    store_a = await started(backend.store(), "instance-a")
    store_b = await started(backend.store(), "instance-b")
    joins = [
        (store_a if i % 2 else store_b).join(
            ROOM, member("instance-a" if i % 2 else "instance-b"), capacity=20
        )
        for i in range(50)
    ]
    results = await asyncio.gather(*joins)
    assert sum(r.admitted for r in results) == 20
    assert await store_a.member_count(ROOM) == 20
    assert await store_b.member_count(ROOM) == 20
    members = await store_b.members(ROOM)
    assert len({m.session_id for m in members}) == 20
    assert {m.instance_id for m in members} == {"instance-a", "instance-b"}


async def test_members_are_the_same_from_every_instance(backend):
    store_a = await started(backend.store(), "instance-a")
    store_b = await started(backend.store(), "instance-b")
    await store_a.join(ROOM, member("instance-a"), capacity=5)
    await store_b.join(ROOM, member("instance-b"), capacity=5)
    assert await store_a.members(ROOM) == await store_b.members(ROOM)
    assert len(await store_a.members(ROOM)) == 2


async def test_members_are_in_join_order(backend):
    store = await started(backend.store())
    late = member("i1", joined_at=3000)
    early = member("i1", joined_at=1000)
    tie_b = member("i1", joined_at=2000, session_id="b")
    tie_a = member("i1", joined_at=2000, session_id="a")
    for record in (late, tie_b, early, tie_a):
        await store.join(ROOM, record, capacity=10)
    assert await store.members(ROOM) == [early, tie_a, tie_b, late]


async def test_members_of_unknown_room_is_empty(backend):
    store = backend.store()
    assert await store.members("no-such-room") == []
    assert await store.member_count("no-such-room") == 0


# --- Leave ------------------------------------------------------------------------------------


async def test_leave_returns_removed_member_and_those_remaining(backend):
    store = await started(backend.store())
    first, second, third = member("i1"), member("i1"), member("i1")
    for record in (first, second, third):
        await store.join(ROOM, record, capacity=10)
    result = await store.leave(ROOM, second.session_id)
    assert result.removed == second
    assert not result.is_empty
    assert result.remaining == [first, third]
    assert await store.member_count(ROOM) == 2


async def test_leave_of_last_member_reports_empty_room_and_clears_owner(backend):
    store = await started(backend.store())
    only = member("i1")
    await store.join(ROOM, only, capacity=10)
    assert await store.set_owner(ROOM, only.user_id)
    result = await store.leave(ROOM, only.session_id)
    assert result.removed == only
    assert result.is_empty
    assert result.remaining == []
    assert await store.owner(ROOM) is None
    assert await store.member_count(ROOM) == 0


async def test_leave_of_unknown_session_removes_nothing(backend):
    store = await started(backend.store())
    present = member("i1")
    await store.join(ROOM, present, capacity=10)
    result = await store.leave(ROOM, "not-a-member")
    assert result.removed is None
    assert not result.is_empty
    assert result.remaining == [present]


async def test_leave_frees_a_seat(backend):
    store = await started(backend.store())
    first = member("i1")
    await store.join(ROOM, first, capacity=1)
    assert not (await store.join(ROOM, member("i1"), capacity=1)).admitted
    await store.leave(ROOM, first.session_id)
    assert (await store.join(ROOM, member("i1"), capacity=1)).admitted


# --- Counts, updates, owner ---------------------------------------------------------------------


async def test_member_counts_in_one_call(backend):
    store = await started(backend.store())
    for room_id, how_many in (("r1", 3), ("r2", 1)):
        for _ in range(how_many):
            await store.join(room_id, member("i1"), capacity=10)
    assert await store.member_counts(["r1", "r2", "r3"]) == {"r1": 3, "r2": 1, "r3": 0}
    assert await store.member_counts(iter(["r2"])) == {"r2": 1}
    assert await store.member_counts([]) == {}


async def test_update_member_changes_only_the_given_fields(backend):
    store_a = await started(backend.store(), "instance-a")
    store_b = backend.store()
    record = member("instance-a")
    await store_a.join(ROOM, record, capacity=10)
    updated = await store_b.update_member(
        ROOM, record.session_id, display_name="Ünïcode/ ✓ \U0001f3b9", muted=True
    )
    expected = replace(record, display_name="Ünïcode/ ✓ \U0001f3b9", muted=True)
    assert updated == expected
    assert await store_a.members(ROOM) == [expected]
    recolored = await store_a.update_member(ROOM, record.session_id, color="#000000")
    assert recolored is not None
    assert recolored.color == "#000000"
    assert recolored.muted
    assert recolored.joined_at == record.joined_at


async def test_update_member_of_unknown_session_returns_none(backend):
    store = backend.store()
    assert await store.update_member(ROOM, "nobody", muted=True) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"username": "admin"}, "cannot be updated"),
        ({"instance_id": "x"}, "cannot be updated"),
        ({"muted": "yes"}, "must be bool"),
        ({"display_name": 5}, "must be str"),
    ],
)
async def test_update_member_rejects_other_fields_and_wrong_types(backend, changes, message):
    store = await started(backend.store())
    record = member("i1")
    await store.join(ROOM, record, capacity=10)
    with pytest.raises(ValueError, match=message):
        await store.update_member(ROOM, record.session_id, **changes)
    assert await store.members(ROOM) == [record]


async def test_owner_is_set_read_and_cleared(backend):
    store_a = await started(backend.store())
    store_b = backend.store()
    await store_a.join(ROOM, member("i1", user_id="guest-42", is_guest=True), capacity=10)
    assert await store_a.owner(ROOM) is None
    assert await store_a.set_owner(ROOM, "guest-42")
    assert await store_b.owner(ROOM) == "guest-42"
    assert await store_b.set_owner(ROOM, None)
    assert await store_a.owner(ROOM) is None


async def test_empty_room_gets_no_owner(backend):
    store = backend.store()
    assert not await store.set_owner("empty-room", "user-1")
    assert await store.owner("empty-room") is None


# --- Heartbeats and reaping -------------------------------------------------------------------


async def test_heartbeat_reports_whether_the_instance_was_alive(backend):
    store = backend.store(heartbeat_ttl=0.3)
    assert not await store.heartbeat("i1")
    assert await store.heartbeat("i1")
    await asyncio.sleep(0.4)
    assert not await store.heartbeat("i1")


async def test_reap_removes_members_of_a_dead_instance_once(backend):
    store_a = await started(backend.store(heartbeat_ttl=0.5), "instance-a")
    store_b = await started(backend.store(heartbeat_ttl=0.5), "instance-b")
    a1, a2, b1 = member("instance-a"), member("instance-a"), member("instance-b")
    a_alone = member("instance-a")
    await store_a.join(ROOM, a1, capacity=10)
    await store_b.join(ROOM, b1, capacity=10)
    await store_a.join(ROOM, a2, capacity=10)
    await store_a.join("room-of-a", a_alone, capacity=10)
    await store_a.set_owner("room-of-a", a_alone.user_id)
    await store_a.set_owner(ROOM, a1.user_id)

    assert await store_b.reap_dead_instances() == []
    await asyncio.sleep(0.7)  # instance A stops heartbeating; B goes on
    await store_b.heartbeat("instance-b")

    reaped = await store_b.reap_dead_instances()
    assert sorted(reaped, key=lambda pair: pair[1].joined_at) == [
        (ROOM, a1),
        (ROOM, a2),
        ("room-of-a", a_alone),
    ]
    assert await store_b.members(ROOM) == [b1]
    assert await store_b.member_count("room-of-a") == 0
    assert await store_b.owner("room-of-a") is None
    # The caller passes ownership on in a room that still has members.
    assert await store_b.owner(ROOM) == a1.user_id
    assert await store_b.reap_dead_instances() == []


async def test_concurrent_reapers_report_each_dead_member_exactly_once(backend):
    store_a = await started(backend.store(heartbeat_ttl=0.5), "instance-a")
    reaper_1 = await started(backend.store(heartbeat_ttl=0.5), "instance-b")
    reaper_2 = await started(backend.store(heartbeat_ttl=0.5), "instance-c")
    dead_members = []
    for room_index in range(10):
        for _ in range(5):
            record = member("instance-a")
            dead_members.append((f"room-{room_index}", record))
            await store_a.join(f"room-{room_index}", record, capacity=10)
        await reaper_1.join(f"room-{room_index}", member("instance-b"), capacity=10)
    await asyncio.sleep(0.7)
    await reaper_1.heartbeat("instance-b")
    await reaper_2.heartbeat("instance-c")

    first, second = await asyncio.gather(
        reaper_1.reap_dead_instances(), reaper_2.reap_dead_instances()
    )
    reported = first + second
    assert len(reported) == len(dead_members) == 50
    assert sorted(reported, key=_pair_key) == sorted(dead_members, key=_pair_key)
    counts = await reaper_2.member_counts([f"room-{i}" for i in range(10)])
    assert set(counts.values()) == {1}


async def test_revived_instance_is_not_reaped(backend):
    store_a = await started(backend.store(heartbeat_ttl=0.5), "instance-a")
    store_b = await started(backend.store(heartbeat_ttl=0.5), "instance-b")
    record = member("instance-a")
    await store_a.join(ROOM, record, capacity=10)
    await asyncio.sleep(0.7)
    assert not await store_a.heartbeat("instance-a")  # it stalled, and knows it
    await store_b.heartbeat("instance-b")
    assert await store_b.reap_dead_instances() == []
    assert await store_b.members(ROOM) == [record]


async def test_reaped_instance_can_join_again_after_heartbeat(backend):
    store_a = await started(backend.store(heartbeat_ttl=0.5), "instance-a")
    store_b = await started(backend.store(heartbeat_ttl=0.5), "instance-b")
    record = member("instance-a")
    await store_a.join(ROOM, record, capacity=10)
    await asyncio.sleep(0.7)
    await store_b.heartbeat("instance-b")
    assert await store_b.reap_dead_instances() == [(ROOM, record)]
    with pytest.raises(InstanceNotAliveError):
        await store_a.join(ROOM, record, capacity=10)
    assert not await store_a.heartbeat("instance-a")
    assert (await store_a.join(ROOM, record, capacity=10)).admitted


# --- Redis specifics ------------------------------------------------------------------------


async def test_redis_keys_stay_under_the_prefix():
    prefix = f"test-presence-{uuid.uuid4().hex}"
    store = RedisPresence(REDIS_URL, prefix=prefix)
    raw = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await store.heartbeat("i1")
        await store.join(ROOM, member("i1"), capacity=5)
        await store.set_owner(ROOM, "user-1")
        keys = [key async for key in raw.scan_iter(match=f"*{ROOM}*")]
        keys += [key async for key in raw.scan_iter(match=f"{prefix}:*")]
        assert keys
        assert all(key.startswith(f"{prefix}:presence:") for key in keys)
    finally:
        await store.close()
        keys = [key async for key in raw.scan_iter(match=f"{prefix}:*")]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()


def test_presence_from_settings_uses_memory_without_redis(settings):
    settings.REDIS_URL = ""
    assert isinstance(presence_from_settings(), MemoryPresence)


async def test_presence_from_settings_uses_redis_when_configured(settings):
    settings.REDIS_URL = REDIS_URL
    settings.REDIS_PREFIX = f"test-presence-{uuid.uuid4().hex}"
    store = presence_from_settings()
    try:
        assert isinstance(store, RedisPresence)
        assert await store.heartbeat("i1") is False
    finally:
        raw = Redis.from_url(REDIS_URL)
        keys = [key async for key in raw.scan_iter(match=f"{settings.REDIS_PREFIX}:*")]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()
        await store.close()


def _pair_key(pair: tuple[str, MemberRecord]) -> tuple[str, str]:
    return pair[0], pair[1].session_id


# --- Connections per address and per account ------------------------------------------------


async def test_connections_are_counted_against_every_limit_all_or_nothing(backend):
    store_a = await started(backend.store(), "instance-a")
    store_b = await started(backend.store(), "instance-b")
    limits = [("addr:x", 3), ("user:1", 2)]
    assert await store_a.open_connection("s1", "instance-a", limits) is None
    assert await store_b.open_connection("s2", "instance-b", limits) is None
    # The account is at its limit across both instances; the address is not, and is not
    # charged for the refused socket.
    assert await store_a.open_connection("s3", "instance-a", limits) == "user:1"
    assert await store_a.open_connection("s3", "instance-a", [("addr:x", 3)]) is None
    assert await store_b.open_connection("s4", "instance-b", [("addr:x", 3)]) == "addr:x"
    await store_a.close_connection("s1", ["addr:x", "user:1"])
    assert await store_b.open_connection("s4", "instance-b", limits) is None


async def test_a_socket_opened_again_is_not_counted_twice(backend):
    store = await started(backend.store())
    limits = [("addr:y", 1)]
    assert await store.open_connection("s1", "i1", limits) is None
    assert await store.open_connection("s1", "i1", limits) is None
    assert await store.open_connection("s2", "i1", limits) == "addr:y"


async def test_connections_of_a_dead_instance_stop_counting(backend):
    doomed = await started(backend.store(heartbeat_ttl=0.3), "instance-a")
    survivor = await started(backend.store(heartbeat_ttl=0.3), "instance-b")
    assert await doomed.open_connection("s1", "instance-a", [("addr:z", 1)]) is None
    assert await survivor.open_connection("s2", "instance-b", [("addr:z", 1)]) == "addr:z"
    await asyncio.sleep(0.45)  # instance-a stops heartbeating
    await survivor.heartbeat("instance-b")
    assert await survivor.open_connection("s2", "instance-b", [("addr:z", 1)]) is None


async def test_occupied_rooms_are_the_rooms_with_members_and_their_counts(backend):
    store = await started(backend.store())
    assert await store.occupied_rooms() == {}
    await store.join("a", member("i1"), capacity=10)
    await store.join("a", member("i1"), capacity=10)
    only = member("i1")
    await store.join("b", only, capacity=10)
    assert await store.occupied_rooms() == {"a": 2, "b": 1}
    await store.leave("b", only.session_id)
    assert await store.occupied_rooms() == {"a": 2}
