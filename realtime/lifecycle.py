"""A room's life as the sockets see it: leaving, the crown passed on, empty rooms deleted,
and the upkeep that keeps presence honest (members of dead instances, sockets gone idle).

Handlers (``realtime.handlers``), control events (``realtime.control``), signal receivers
(``realtime.receivers``) and the runtime's heartbeat all end up here when someone leaves a
room or a room has no one left.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings

from analytics import stats
from foundation.db import database_sync_to_async
from observability import metrics
from observability.logs import bind_log_context
from realtime import tasks
from realtime.closing import CloseCode
from realtime.codec import EncodedMessage
from realtime.events import CrownPassed
from realtime.hub import room_topic
from realtime.messages import RoomSnapshot, candidate_of, member, member_record, server
from realtime.presence import MemberRecord
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.runtime import Runtime, current_runtime
from realtime.session import PlayerSession
from rooms import rules
from rooms import services as rooms
from rooms.exceptions import RoomNotFoundError

logger = logging.getLogger(__name__)

#: The topic of the live lobby list.
ROOM_LIST_TOPIC = "roomlist"
#: An empty room that is not persistent is deleted this long after its last member left.
EMPTY_ROOM_GRACE_SECONDS = 30.0
#: How often, and after how long unchanged, empty non-persistent rooms are swept away.
ROOM_SWEEP_SECONDS = 60.0
ROOM_SWEEP_AGE = timedelta(minutes=10)


# --- Leaving -----------------------------------------------------------------------------------


async def leave_current_room(session: PlayerSession) -> None:
    """Take the session out of its room and tell everyone what follows from it."""
    snapshot = session.room
    if snapshot is None:
        return
    session.room = None
    session.cancel_pending_cursor()
    runtime = session.runtime
    await runtime.hub.unsubscribe(room_topic(snapshot.id), session)
    count_local_rooms(runtime)
    identity = session.identity
    stats.recorder.record_leave(
        time.monotonic() - session.joined_at,
        user_id=identity.account_id,
        guest_id=identity.user_id if identity.is_guest else "",
        room_id=snapshot.id,
        room_name=snapshot.name,
    )
    bind_log_context(room=None)
    result = await runtime.presence.leave(snapshot.id, session.session_id)
    session.refresh_quota_tier()
    if result.removed:
        await after_member_left(
            session.runtime, snapshot, session.user_id, session.session_id, result.remaining
        )


async def after_member_left(
    runtime: Runtime,
    snapshot: RoomSnapshot,
    user_id: str,
    session_id: str,
    remaining: list[MemberRecord],
) -> None:
    """Announce a departure: ``member_left``, ownership passed on, lobby list, clean-up."""
    await runtime.hub.publish(
        room_topic(snapshot.id),
        EncodedMessage(server(member_left=pb.MemberLeft(session_id=session_id))),
    )
    crown = await runtime.presence.owner(snapshot.id)
    if crown == user_id and remaining and not any(m.user_id == user_id for m in remaining):
        heir = rules.crown_holder(snapshot.view(), [candidate_of(m) for m in remaining])
        if heir is not None:
            heir_id = str(heir.user_id) if heir.user_id is not None else heir.guest_id
            await announce_owner(runtime, snapshot.with_crown(heir_id))
    await publish_count(runtime, snapshot, len(remaining))
    if not remaining and not snapshot.persistent:
        tasks.spawn_later(
            EMPTY_ROOM_GRACE_SECONDS,
            lambda: delete_if_still_empty(runtime, snapshot.id),
            f"delete-empty-room-{snapshot.id}",
        )


# --- Announcing -------------------------------------------------------------------------------


@database_sync_to_async
def snapshot_of(room_id: str) -> RoomSnapshot | None:
    """The stored room as a snapshot, or None if it is gone."""
    try:
        return RoomSnapshot.of(rooms.get_room(room_id))
    except RoomNotFoundError:
        return None


async def announce_owner(
    runtime: Runtime, snapshot: RoomSnapshot, exclude_session: str = ""
) -> None:
    """Give ``snapshot.crown`` the crown of the room everywhere: presence, every socket's
    room, the member list (the previous holder and the new one) and the room's info."""
    crown = snapshot.crown
    previous = await runtime.presence.owner(snapshot.id)
    if not await runtime.presence.set_owner(snapshot.id, crown):
        return  # the room emptied meanwhile: nobody to crown
    topic = room_topic(snapshot.id)
    await runtime.hub.publish_control(
        topic, CrownPassed(crown=crown, owner_user_id=snapshot.owner_user_id)
    )
    members = await runtime.presence.members(snapshot.id)
    for record in members:
        if record.user_id in (crown, previous) and record.session_id != exclude_session:
            await runtime.hub.publish(
                topic,
                EncodedMessage(
                    server(member_updated=pb.MemberUpdated(member=member(record, crown)))
                ),
            )
    room = snapshot.to_proto(len(members))
    await runtime.hub.publish(
        topic,
        EncodedMessage(server(room_updated=pb.RoomUpdated(room=room))),
        exclude_session=exclude_session,
    )


async def publish_member(runtime: Runtime, snapshot: RoomSnapshot, session_id: str) -> None:
    """Show the room a member as presence has it now (a new name, colour, role or mute)."""
    for record in await runtime.presence.members(snapshot.id):
        if record.session_id == session_id:
            await runtime.hub.publish(
                room_topic(snapshot.id),
                EncodedMessage(
                    server(member_updated=pb.MemberUpdated(member=member(record, snapshot.crown)))
                ),
            )


async def publish_count(runtime: Runtime, snapshot: RoomSnapshot, count: int) -> None:
    """Tell the lobby list a listed room's member count."""
    if snapshot.settings.get("is_public", True) or snapshot.is_lobby:
        await runtime.hub.publish(
            ROOM_LIST_TOPIC,
            EncodedMessage(server(room_list=pb.RoomList(rooms=[snapshot.summary(count)]))),
        )


def count_local_rooms(runtime: Runtime) -> None:
    """Update the metrics of the rooms this process has members in."""
    local_rooms, members = runtime.hub.room_load()
    metrics.set_active_rooms(local_rooms)
    metrics.set_room_members(members)


# --- Empty rooms -------------------------------------------------------------------------------


@database_sync_to_async
def _delete_abandoned(room_id: str) -> bool:
    return rooms.delete_abandoned_room(room_id)


async def delete_if_still_empty(runtime: Runtime, room_id: str) -> None:
    try:
        if await runtime.presence.member_count(room_id) == 0 and await _delete_abandoned(room_id):
            await runtime.hub.publish(
                ROOM_LIST_TOPIC,
                EncodedMessage(server(room_list=pb.RoomList(removed_room_ids=[room_id]))),
            )
    except Exception:
        logger.exception("could not delete empty room %s", room_id)


@database_sync_to_async
def _stale_rooms() -> list[str]:
    return rooms.stale_empty_room_candidates(ROOM_SWEEP_AGE)


async def sweep_abandoned_rooms(runtime: Runtime) -> None:
    """Delete rooms nobody uses that the leave-time grace deletion never saw (made over REST
    and never joined, or emptied by a restart)."""
    now = time.monotonic()
    if now < runtime.next_room_sweep:
        return
    runtime.next_room_sweep = now + ROOM_SWEEP_SECONDS
    candidates = await _stale_rooms()
    counts = await runtime.presence.member_counts(candidates)
    for room_id in candidates:
        if counts.get(room_id, 0) == 0:
            await delete_if_still_empty(runtime, room_id)


# --- Presence upkeep (the runtime's callbacks) -------------------------------------------------


async def member_reaped(room_id: str, record: MemberRecord) -> None:
    """A member of a dead instance was removed from presence by this process: tell the room."""
    runtime = current_runtime()
    if runtime is None:
        return
    snapshot = await snapshot_of(room_id)
    if snapshot is None:
        return
    remaining = await runtime.presence.members(room_id)
    await after_member_left(runtime, snapshot, record.user_id, record.session_id, remaining)


async def rejoin_local_members() -> None:
    """Presence forgot this instance (Redis restarted): put its members back."""
    runtime = current_runtime()
    if runtime is None:
        return
    for socket in runtime.hub.local_sockets():
        room = socket.room if isinstance(socket, PlayerSession) else None
        if not isinstance(socket, PlayerSession) or room is None:
            continue
        record = member_record(socket.identity, socket.session_id, runtime.instance_id)
        await runtime.presence.join(room.id, record, room.max_members)
        if room.crown and await runtime.presence.owner(room.id) is None:
            await runtime.presence.set_owner(room.id, room.crown)
    logger.info("presence restored for this instance's members")


async def close_idle_sessions(runtime: Runtime) -> None:
    """Close sockets that sent nothing for the idle limit (4408): clients send time_sync
    every 20 s, so silence means a dead or stuck client."""
    limit = float(settings.REALTIME_IDLE_SECONDS)
    now = time.monotonic()
    for socket in runtime.hub.local_sockets():
        if isinstance(socket, PlayerSession) and now - socket.last_seen > limit:
            tasks.spawn(socket.close(CloseCode.IDLE), f"close-idle-{socket.session_id}")


async def on_tick(runtime: Runtime) -> None:
    """After every heartbeat: prune idle allowances, close idle sockets, sweep empty rooms."""
    runtime.allowances.prune(time.monotonic())
    await close_idle_sessions(runtime)
    await sweep_abandoned_rooms(runtime)
