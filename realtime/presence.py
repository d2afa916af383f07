"""Presence: who is in which room, the same on every server instance.

One interface, ``PresenceStore``, with two backends:

- ``MemoryPresence`` keeps everything in this process (embedded mode, one instance);
- ``RedisPresence`` keeps it in Redis, so that member lists, ``member_count`` and capacity agree
  across every instance behind a load balancer.

Rules shared by both backends (the parametrized tests hold them to it):

- A member is one *session* (one socket). A user with two tabs open is two members and takes two
  seats: capacity counts sessions, because each session receives the room's traffic.
- Members are ordered by ``joined_at`` (ms), ties broken by ``session_id``.
- The live owner is a *user id* (guests have one too), because ownership passes on only when the
  owner's last session leaves. It is cleared when the room becomes empty.
- Every instance has an id and calls ``heartbeat(instance_id)`` every few seconds. A member can
  only join while its instance is alive, and ``reap_dead_instances`` removes the members of
  instances whose heartbeat expired, reporting each removed member exactly once even when several
  instances reap at the same time.

This module does not import Django; ``presence_from_settings`` reads the settings lazily.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, cast

from redis.asyncio import BlockingConnectionPool, Redis

DEFAULT_HEARTBEAT_TTL = 10.0

# Fields a member may change while in a room; everything else is fixed at join.
UPDATABLE_FIELDS: dict[str, type] = {"display_name": str, "color": str, "role": str, "muted": bool}


class PresenceError(Exception):
    """Presence state cannot be read or changed as asked."""


class InstanceNotAliveError(PresenceError):
    """A member was joined for an instance that has not sent a (recent) heartbeat.

    Its members would be reaped at once, so the join is refused; the instance must heartbeat
    first (and, when ``heartbeat`` returns False, re-register its local members).
    """


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """One session in one room, as every instance sees it."""

    session_id: str
    user_id: str
    username: str
    display_name: str
    color: str
    role: str
    is_guest: bool
    instance_id: str
    joined_at: int  # ms since the epoch
    muted: bool = False
    #: The private key of the member's address (never sent to clients): a guest banned or
    #: muted is banned or muted by address too.
    address_key: str = ""

    def to_json(self) -> str:
        """Encode compactly (one-letter keys): a room of 100 is read on every join."""
        return json.dumps(
            {_SHORT[f]: getattr(self, f) for f in _SHORT}, separators=(",", ":"), ensure_ascii=False
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> MemberRecord:
        """Decode what ``to_json`` produced; raise ``PresenceError`` on anything else."""
        try:
            data = json.loads(raw)
            values = {name: data[short] for name, short in _SHORT.items() if short in data}
            missing = _REQUIRED - values.keys()
            if missing:
                raise KeyError(sorted(missing))
            # Redis' Lua cjson may write integers as floats (e.g. 1.7e+12) when it re-encodes.
            values["joined_at"] = int(values["joined_at"])
            return cls(**values)
        except (ValueError, TypeError, KeyError) as exc:
            raise PresenceError(f"corrupt member record: {raw!r:.200}") from exc


_SHORT: dict[str, str] = {
    "session_id": "s",
    "user_id": "u",
    "username": "n",
    "display_name": "d",
    "color": "c",
    "role": "r",
    "is_guest": "g",
    "instance_id": "i",
    "joined_at": "t",
    "muted": "m",
    "address_key": "a",
}
#: Fields every record carries (the others have defaults: records written before they
#: existed still read).
_REQUIRED = frozenset(_SHORT) - {"muted", "address_key"}


@dataclass(frozen=True, slots=True)
class JoinResult:
    """Outcome of ``join``: ``admitted`` is False only when the room is full."""

    admitted: bool
    member_count: int
    already_member: bool = False


@dataclass(frozen=True, slots=True)
class LeaveResult:
    """Outcome of ``leave``: the removed member (None if it was not there) and who remains."""

    removed: MemberRecord | None
    is_empty: bool
    remaining: list[MemberRecord]


class PresenceStore(Protocol):
    """Room membership shared by every server instance."""

    async def join(self, room_id: str, member: MemberRecord, capacity: int) -> JoinResult:
        """Add ``member`` unless the room already holds ``capacity`` sessions, atomically.

        Joining again with a session already in the room admits it without a change.
        Raises ``InstanceNotAliveError`` if ``member.instance_id`` has no live heartbeat.
        """
        ...

    async def leave(self, room_id: str, session_id: str) -> LeaveResult:
        """Remove a session; report whether the room is now empty and who remains (in join
        order, so the caller can pick the next owner). Emptying a room clears its owner."""
        ...

    async def members(self, room_id: str) -> list[MemberRecord]:
        """The room's members in join order."""
        ...

    async def member_count(self, room_id: str) -> int:
        """How many sessions are in the room."""
        ...

    async def member_counts(self, room_ids: Iterable[str]) -> dict[str, int]:
        """``member_count`` for many rooms in one round trip (the lobby list)."""
        ...

    async def occupied_rooms(self) -> dict[str, int]:
        """Every room with members, and how many (the busiest rooms of the lobby list)."""
        ...

    async def update_member(
        self, room_id: str, session_id: str, **changes: str | bool
    ) -> MemberRecord | None:
        """Change ``display_name``, ``color``, ``role`` or ``muted``; return the new record, or
        None if the session is not in the room. Raises ``ValueError`` for other fields or wrong
        types."""
        ...

    async def set_owner(self, room_id: str, user_id: str | None) -> bool:
        """Make ``user_id`` the live owner (None clears it). Returns False, changing nothing,
        when the room is empty: an empty room has no live owner."""
        ...

    async def owner(self, room_id: str) -> str | None:
        """The live owner's user id, or None."""
        ...

    async def open_connection(
        self, session_id: str, instance_id: str, limits: Sequence[tuple[str, int]]
    ) -> str | None:
        """Count a socket against each ``(key, limit)`` (its address, its account), on every
        instance: all or nothing. Returns the first key already at its limit (nothing is
        counted then), or None. Sockets of dead instances no longer count."""
        ...

    async def close_connection(self, session_id: str, keys: Sequence[str]) -> None:
        """Stop counting a socket opened with ``open_connection``."""
        ...

    async def heartbeat(self, instance_id: str) -> bool:
        """Mark the instance alive for the heartbeat TTL. Returns False when it was not alive
        just before (first call, expired after a stall, or Redis lost its data): the caller
        should then join its local members again, as they may have been reaped."""
        ...

    async def reap_dead_instances(self) -> list[tuple[str, MemberRecord]]:
        """Remove the members of instances whose heartbeat expired; return ``(room_id,
        member)`` for each, so the caller can broadcast ``member_left`` and pass ownership on.
        Safe to run from every instance at once: each member is reported by one caller only."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def _check_capacity(capacity: int) -> None:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be a positive integer, not {capacity!r}")


def _check_changes(changes: dict[str, str | bool]) -> None:
    for name, value in changes.items():
        expected = UPDATABLE_FIELDS.get(name)
        if expected is None:
            raise ValueError(f"member field {name!r} cannot be updated")
        if type(value) is not expected:
            raise ValueError(f"member field {name!r} must be {expected.__name__}")


def _in_join_order(records: Iterable[MemberRecord]) -> list[MemberRecord]:
    return sorted(records, key=lambda m: (m.joined_at, m.session_id))


class MemoryPresence:
    """In-process presence for embedded mode (a single instance).

    Each method runs without awaiting, so on one event loop every operation is atomic.
    ``clock`` (monotonic seconds) is injectable so heartbeat expiry can be tested.
    """

    def __init__(
        self,
        heartbeat_ttl: float = DEFAULT_HEARTBEAT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = heartbeat_ttl
        self._clock = clock
        self._rooms: dict[str, dict[str, MemberRecord]] = {}
        self._owners: dict[str, str] = {}
        self._alive_until: dict[str, float] = {}
        #: Connections counted per limit key: key -> session id -> instance id.
        self._connections: dict[str, dict[str, str]] = {}

    def _is_alive(self, instance_id: str) -> bool:
        return self._alive_until.get(instance_id, float("-inf")) > self._clock()

    async def join(self, room_id: str, member: MemberRecord, capacity: int) -> JoinResult:
        _check_capacity(capacity)
        if not self._is_alive(member.instance_id):
            raise InstanceNotAliveError(member.instance_id)
        room = self._rooms.setdefault(room_id, {})
        if member.session_id in room:
            return JoinResult(admitted=True, member_count=len(room), already_member=True)
        if len(room) >= capacity:
            return JoinResult(admitted=False, member_count=len(room))
        room[member.session_id] = member
        return JoinResult(admitted=True, member_count=len(room))

    async def leave(self, room_id: str, session_id: str) -> LeaveResult:
        room = self._rooms.get(room_id, {})
        removed = room.pop(session_id, None)
        if not room:
            self._drop_room(room_id)
        return LeaveResult(
            removed=removed, is_empty=not room, remaining=_in_join_order(room.values())
        )

    def _drop_room(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)
        self._owners.pop(room_id, None)

    async def members(self, room_id: str) -> list[MemberRecord]:
        return _in_join_order(self._rooms.get(room_id, {}).values())

    async def member_count(self, room_id: str) -> int:
        return len(self._rooms.get(room_id, {}))

    async def member_counts(self, room_ids: Iterable[str]) -> dict[str, int]:
        return {room_id: len(self._rooms.get(room_id, {})) for room_id in room_ids}

    async def occupied_rooms(self) -> dict[str, int]:
        return {room_id: len(members) for room_id, members in self._rooms.items() if members}

    async def update_member(
        self, room_id: str, session_id: str, **changes: str | bool
    ) -> MemberRecord | None:
        _check_changes(changes)
        room = self._rooms.get(room_id, {})
        current = room.get(session_id)
        if current is None:
            return None
        updated = replace(current, **changes)  # type: ignore[arg-type]
        room[session_id] = updated
        return updated

    async def set_owner(self, room_id: str, user_id: str | None) -> bool:
        if user_id is None:
            self._owners.pop(room_id, None)
            return True
        if not self._rooms.get(room_id):
            return False
        self._owners[room_id] = user_id
        return True

    async def owner(self, room_id: str) -> str | None:
        return self._owners.get(room_id)

    async def open_connection(
        self, session_id: str, instance_id: str, limits: Sequence[tuple[str, int]]
    ) -> str | None:
        for key, limit in limits:
            holders = self._connections.get(key, {})
            live = [s for s, iid in holders.items() if self._is_alive(iid) and s != session_id]
            if len(live) >= limit:
                return key
        for key, _ in limits:
            holders = self._connections.setdefault(key, {})
            for stale in [s for s, iid in holders.items() if not self._is_alive(iid)]:
                del holders[stale]
            holders[session_id] = instance_id
        return None

    async def close_connection(self, session_id: str, keys: Sequence[str]) -> None:
        for key in keys:
            holders = self._connections.get(key)
            if holders is not None:
                holders.pop(session_id, None)
                if not holders:
                    del self._connections[key]

    async def heartbeat(self, instance_id: str) -> bool:
        was_alive = self._is_alive(instance_id)
        self._alive_until[instance_id] = self._clock() + self._ttl
        return was_alive

    async def reap_dead_instances(self) -> list[tuple[str, MemberRecord]]:
        dead = {iid for iid in self._alive_until if not self._is_alive(iid)}
        if not dead:
            return []
        reaped: list[tuple[str, MemberRecord]] = []
        for room_id, room in list(self._rooms.items()):
            for member in _in_join_order(room.values()):
                if member.instance_id in dead:
                    del room[member.session_id]
                    reaped.append((room_id, member))
            if not room:
                self._drop_room(room_id)
        for iid in dead:
            del self._alive_until[iid]
        return reaped

    async def close(self) -> None:
        return None


# --- Redis ---------------------------------------------------------------------------------
#
# Keys, under ``prefix``:
#   {p}:presence:room:{room_id}:members   hash session_id -> MemberRecord json
#   {p}:presence:room:{room_id}:owner     string, the live owner's user id
#   {p}:presence:rooms                    set of room ids that have members (for reaping)
#   {p}:presence:instances                set of instance ids that have heartbeated
#   {p}:presence:instance:{instance_id}   heartbeat key, expires after the TTL
#   {p}:presence:conn:{limit_key}         hash session_id -> instance_id: the sockets counted
#                                         against a per-address or per-account limit
#
# Every read-check-write runs as a Lua script because Redis runs a script atomically: two
# instances admitting the last free seat, or two reapers removing the same dead member, are
# serialized by Redis itself, with no lock to leak when an instance dies holding it.

# KEYS: members, rooms, alive. ARGV: room_id, session_id, record json, capacity.
# Returns {status, member_count}: 1 admitted, 2 already a member, 0 full, -1 instance not alive.
_JOIN = """
if redis.call('EXISTS', KEYS[3]) == 0 then return {-1, 0} end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  return {2, redis.call('HLEN', KEYS[1])}
end
local count = redis.call('HLEN', KEYS[1])
if count >= tonumber(ARGV[4]) then return {0, count} end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return {1, count + 1}
"""

# KEYS: members, owner, rooms. ARGV: room_id, session_id. Returns {removed json or nil, rest}.
_LEAVE = """
local removed = redis.call('HGET', KEYS[1], ARGV[2])
if removed then redis.call('HDEL', KEYS[1], ARGV[2]) end
local rest = redis.call('HVALS', KEYS[1])
if #rest == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[1])
end
return {removed, rest}
"""

# KEYS: members. ARGV: session_id, json object of changed fields (short keys, validated).
_UPDATE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
local record = cjson.decode(current)
for key, value in pairs(cjson.decode(ARGV[2])) do record[key] = value end
local encoded = cjson.encode(record)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
"""

# KEYS: members, owner. ARGV: user_id. An empty room gets no owner (the key would outlive it).
_SET_OWNER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""

# KEYS: members, owner, rooms, alive key of each candidate. ARGV: room_id, candidate ids.
# The candidates were found dead by the caller, but one may have come back since (a long stall)
# and joined its members again: re-check each heartbeat key here, inside the atomic script.
_REAP_ROOM = """
local dead = {}
local any_dead = false
for i = 4, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    dead[ARGV[i - 2]] = true
    any_dead = true
  end
end
if not any_dead then return {} end
local removed = {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if dead[cjson.decode(entries[i + 1])['i']] then
    redis.call('HDEL', KEYS[1], entries[i])
    removed[#removed + 1] = entries[i + 1]
  end
end
if #removed > 0 and redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[1])
end
return removed
"""

# KEYS: instances, alive. ARGV: instance_id. Forget it only if it is still dead.
_FORGET_INSTANCE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return redis.call('SREM', KEYS[1], ARGV[1])
"""


# KEYS: one connection hash per limit. ARGV: session_id, instance_id, alive-key prefix, then
# one limit per key. Drops holders whose instance is dead, then admits the socket into every
# hash or none. Returns 0 when admitted, else the (1-based) index of the key at its limit.
# (The alive keys it reads are named from the prefix: one Redis server, not a cluster.)
_OPEN_CONNECTION = """
for i, key in ipairs(KEYS) do
  local holders = redis.call('HGETALL', key)
  local count = 0
  for j = 1, #holders, 2 do
    if redis.call('EXISTS', ARGV[3] .. holders[j + 1]) == 0 then
      redis.call('HDEL', key, holders[j])
    elseif holders[j] ~= ARGV[1] then
      count = count + 1
    end
  end
  if count >= tonumber(ARGV[3 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('HSET', key, ARGV[1], ARGV[2])
  redis.call('EXPIRE', key, 86400)
end
return 0
"""


class RedisPresence:
    """Presence in Redis (a single server or a replicated primary, not Redis Cluster: the
    reaping script reads keys of several rooms)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "pianorhythm",
        heartbeat_ttl: float = DEFAULT_HEARTBEAT_TTL,
        max_connections: int = 50,
        socket_timeout: float = 5.0,
    ) -> None:
        # decode_responses: every reply is str, hence the casts of redis-py's str | bytes.
        self._redis = redis_client(
            url, max_connections=max_connections, socket_timeout=socket_timeout
        )
        self._prefix = f"{prefix}:presence"
        self._ttl_ms = max(1, round(heartbeat_ttl * 1000))
        self._join = self._redis.register_script(_JOIN)
        self._leave = self._redis.register_script(_LEAVE)
        self._update = self._redis.register_script(_UPDATE)
        self._set_owner = self._redis.register_script(_SET_OWNER)
        self._reap_room = self._redis.register_script(_REAP_ROOM)
        self._forget_instance = self._redis.register_script(_FORGET_INSTANCE)
        self._open_connection = self._redis.register_script(_OPEN_CONNECTION)

    def _members_key(self, room_id: str) -> str:
        return f"{self._prefix}:room:{room_id}:members"

    def _owner_key(self, room_id: str) -> str:
        return f"{self._prefix}:room:{room_id}:owner"

    def _alive_key(self, instance_id: str) -> str:
        return f"{self._prefix}:instance:{instance_id}"

    def _connection_key(self, key: str) -> str:
        return f"{self._prefix}:conn:{key}"

    @property
    def _rooms_key(self) -> str:
        return f"{self._prefix}:rooms"

    @property
    def _instances_key(self) -> str:
        return f"{self._prefix}:instances"

    async def join(self, room_id: str, member: MemberRecord, capacity: int) -> JoinResult:
        _check_capacity(capacity)
        status, count = await self._join(
            keys=[
                self._members_key(room_id),
                self._rooms_key,
                self._alive_key(member.instance_id),
            ],
            args=[room_id, member.session_id, member.to_json(), capacity],
        )
        if status == -1:
            raise InstanceNotAliveError(member.instance_id)
        return JoinResult(admitted=status != 0, member_count=count, already_member=status == 2)

    async def leave(self, room_id: str, session_id: str) -> LeaveResult:
        removed, rest = await self._leave(
            keys=[self._members_key(room_id), self._owner_key(room_id), self._rooms_key],
            args=[room_id, session_id],
        )
        return LeaveResult(
            removed=MemberRecord.from_json(removed) if removed else None,
            is_empty=not rest,
            remaining=_in_join_order(MemberRecord.from_json(raw) for raw in rest),
        )

    async def members(self, room_id: str) -> list[MemberRecord]:
        raw = cast(list[str], await self._redis.hvals(self._members_key(room_id)))
        return _in_join_order(MemberRecord.from_json(item) for item in raw)

    async def member_count(self, room_id: str) -> int:
        return await self._redis.hlen(self._members_key(room_id))

    async def member_counts(self, room_ids: Iterable[str]) -> dict[str, int]:
        ids = list(room_ids)
        if not ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id in ids:
                pipe.hlen(self._members_key(room_id))
            counts: list[int] = await pipe.execute()
        return dict(zip(ids, counts, strict=True))

    async def occupied_rooms(self) -> dict[str, int]:
        room_ids = cast(set[str], await self._redis.smembers(self._rooms_key))
        counts = await self.member_counts(room_ids)
        return {room_id: count for room_id, count in counts.items() if count}

    async def update_member(
        self, room_id: str, session_id: str, **changes: str | bool
    ) -> MemberRecord | None:
        _check_changes(changes)
        patch = json.dumps({_SHORT[name]: value for name, value in changes.items()})
        encoded = await self._update(keys=[self._members_key(room_id)], args=[session_id, patch])
        return MemberRecord.from_json(encoded) if encoded else None

    async def set_owner(self, room_id: str, user_id: str | None) -> bool:
        if user_id is None:
            await self._redis.delete(self._owner_key(room_id))
            return True
        done = await self._set_owner(
            keys=[self._members_key(room_id), self._owner_key(room_id)], args=[user_id]
        )
        return bool(done)

    async def owner(self, room_id: str) -> str | None:
        return cast(str | None, await self._redis.get(self._owner_key(room_id)))

    async def open_connection(
        self, session_id: str, instance_id: str, limits: Sequence[tuple[str, int]]
    ) -> str | None:
        if not limits:
            return None
        full = await self._open_connection(
            keys=[self._connection_key(key) for key, _ in limits],
            args=[session_id, instance_id, self._alive_key(""), *(limit for _, limit in limits)],
        )
        return limits[int(full) - 1][0] if full else None

    async def close_connection(self, session_id: str, keys: Sequence[str]) -> None:
        if not keys:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hdel(self._connection_key(key), session_id)
            await pipe.execute()

    async def heartbeat(self, instance_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self._instances_key, instance_id)
            pipe.set(self._alive_key(instance_id), "1", px=self._ttl_ms, get=True)
            _, previous = await pipe.execute()
        return previous is not None

    async def reap_dead_instances(self) -> list[tuple[str, MemberRecord]]:
        instance_ids = sorted(cast(set[str], await self._redis.smembers(self._instances_key)))
        if not instance_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for iid in instance_ids:
                pipe.exists(self._alive_key(iid))
            alive: list[int] = await pipe.execute()
        dead = [iid for iid, is_alive in zip(instance_ids, alive, strict=True) if not is_alive]
        if not dead:
            return []

        room_ids = sorted(cast(set[str], await self._redis.smembers(self._rooms_key)))
        dead_alive_keys = [self._alive_key(iid) for iid in dead]
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                await self._reap_room(
                    keys=[
                        self._members_key(room_id),
                        self._owner_key(room_id),
                        self._rooms_key,
                        *dead_alive_keys,
                    ],
                    args=[room_id, *dead],
                    client=pipe,
                )
            removed_per_room: list[list[str]] = await pipe.execute()
        reaped = [
            (room_id, member)
            for room_id, removed in zip(room_ids, removed_per_room, strict=True)
            for member in _in_join_order(MemberRecord.from_json(raw) for raw in removed)
        ]
        # Only now forget the dead instances: had they been forgotten first, a reaper that
        # stopped half-way would leave their members in rooms with nobody left to reap them.
        for iid in dead:
            await self._forget_instance(
                keys=[self._instances_key, self._alive_key(iid)], args=[iid]
            )
        return reaped

    async def close(self) -> None:
        await self._redis.aclose()


def redis_client(url: str, *, max_connections: int = 50, socket_timeout: float = 5.0) -> Redis:
    """A Redis client for the real-time layer's own scripts (presence, buckets), replies as
    str. Its blocking pool makes a burst of joins wait for a connection instead of failing
    with "Too many connections" as redis-py's default asyncio pool does."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        health_check_interval=15,
        decode_responses=True,
    )
    return Redis.from_pool(pool)


def presence_from_settings() -> PresenceStore:
    """Build the presence store the settings ask for: Redis when ``REDIS_URL`` is set, else
    in-process. Create one per process (it holds a connection pool) and close it on shutdown."""
    from django.conf import settings  # lazily, so the module itself stays Django-free

    url: str = settings.REDIS_URL
    if url:
        return RedisPresence(url, prefix=settings.REDIS_PREFIX)
    return MemoryPresence()
