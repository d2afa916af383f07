"""State changes made anywhere (a room, the admin, the REST API) reaching live sockets.

The services of ``rooms`` and ``users`` send signals after their transaction commits; the
receivers here turn them into hub control events and messages, so a ban from the admin and
a ban from a room owner's socket are one service call and one path to the sockets.

Receivers run in the thread that committed. They hand the work to the event loop that owns
this process's runtime; in a process that has none (a management command, a test without
sockets), events still reach other processes through the channel layer when it is shared.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from realtime import actions, tasks
from realtime.codec import EncodedMessage
from realtime.hub import EVERYWHERE, ControlEvent, room_topic
from realtime.messages import RoomSnapshot, member_record, server
from realtime.presence import MemberRecord
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.runtime import Runtime, current_runtime
from realtime.session import PlayerSession
from rooms import services as room_services
from rooms import signals as room_signals
from rooms.models import Room
from users.models import User
from users.signals import credentials_changed, identity_changed, sign_in_ended, site_ban_changed

logger = logging.getLogger(__name__)


def _idle_seconds() -> float:
    return float(settings.REALTIME_IDLE_SECONDS)


# --- Getting from a committing thread to the event loop ---------------------------------------


def _run(coroutine_function: Any, *args: Any) -> None:
    """Run an async announcement from sync code; failures are logged, never raised into the
    service that committed (its work is done and saved)."""
    try:
        async_to_sync(coroutine_function)(*args)
    except Exception:
        logger.exception("could not announce %s to live sockets", coroutine_function.__name__)


async def _control(topic: str, event: ControlEvent) -> None:
    runtime = current_runtime()
    if runtime is not None:
        await runtime.hub.publish_control(topic, event)
        return
    layer = get_channel_layer()
    if layer is not None and not isinstance(layer, InMemoryChannelLayer):
        await layer.group_send(
            topic, {"type": "hub.control", "origin": "", "topic": topic, "event": event}
        )


async def _message(topic: str, message: pb.ServerMessage) -> None:
    runtime = current_runtime()
    if runtime is not None:
        await runtime.hub.publish(topic, EncodedMessage(message))
        return
    layer = get_channel_layer()
    if layer is not None and not isinstance(layer, InMemoryChannelLayer):
        await layer.group_send(
            topic,
            {
                "type": "hub.message",
                "origin": "",
                "topic": topic,
                "frame": EncodedMessage(message).proto_frame,
                "exclude": "",
            },
        )


async def _count(room_id: str) -> int:
    runtime = current_runtime()
    return await runtime.presence.member_count(room_id) if runtime is not None else 0


# --- Signal receivers --------------------------------------------------------------------------


@receiver(site_ban_changed)
def on_site_ban_changed(sender: Any, user_id: int, banned_until: Any, **kwargs: Any) -> None:
    if banned_until is None:
        return
    until = banned_until.timestamp() * 1000.0 if banned_until.year < 9999 else 0.0
    _run(_control, EVERYWHERE, {"kind": "site_banned", "user_id": str(user_id), "until": until})


@receiver(user_logged_out)
def on_logged_out(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    if user is None or request is None:
        return
    key = getattr(request.session, "session_key", None) or ""
    event = {"kind": "credentials_revoked", "user_id": str(user.pk), "session_key": key}
    _run(_control, EVERYWHERE, event)


@receiver(credentials_changed)
def on_credentials_changed(sender: Any, user_id: int, why: str, **kwargs: Any) -> None:
    # A changed password, a deactivated or deleted account: every socket of it closes.
    event = {"kind": "credentials_revoked", "user_id": str(user_id)}
    _run(_control, EVERYWHERE, event)


@receiver(sign_in_ended)
def on_sign_in_ended(sender: Any, user_id: int, family: str, **kwargs: Any) -> None:
    event = {"kind": "credentials_revoked", "user_id": str(user_id), "token_family": family}
    _run(_control, EVERYWHERE, event)


@receiver(identity_changed)
def on_identity_changed(sender: Any, user_id: int, **kwargs: Any) -> None:
    _run(_control, EVERYWHERE, {"kind": "identity_changed", "user_id": str(user_id)})


@receiver(room_signals.member_banned)
def on_member_banned(
    sender: Any,
    room: Room,
    user_id: int | None,
    guest_id: str,
    expires_at: Any,
    reason: str,
    **kwargs: Any,
) -> None:
    until = expires_at.timestamp() * 1000.0 if expires_at is not None else 0.0
    target = str(user_id) if user_id is not None else guest_id
    event = actions.removal_event(
        "BANNED", target, reason or "You are banned from this room.", until
    )
    _run(_control, room_topic(str(room.pk)), event)


@receiver(room_signals.room_closed)
def on_room_closed(sender: Any, room_id: Any, room_name: str, reason: str, **kwargs: Any) -> None:
    topic = room_topic(str(room_id))
    event = actions.removal_event("ROOM_CLOSED", "", reason or "The room was closed.")
    _run(_control, topic, event)
    removed = server(room_list=pb.RoomList(removed_room_ids=[str(room_id)]))
    _run(_message, actions.ROOM_LIST_TOPIC, removed)


@receiver(room_signals.room_updated)
def on_room_updated(sender: Any, room: Room, **kwargs: Any) -> None:
    _run(_announce_room_updated, RoomSnapshot.of(room))


async def _announce_room_updated(snapshot: RoomSnapshot) -> None:
    runtime = current_runtime()
    crown = await runtime.presence.owner(snapshot.id) if runtime is not None else None
    if crown is not None:
        snapshot = snapshot.with_crown(crown)
    count = await _count(snapshot.id)
    topic = room_topic(snapshot.id)
    event = {
        "kind": "room_updated",
        "name": snapshot.name,
        "has_password": snapshot.has_password,
        "settings": snapshot.settings,
    }
    await _control(topic, event)
    await _message(topic, server(room_updated=pb.RoomUpdated(room=snapshot.to_proto(count))))
    if snapshot.settings.get("is_public") or snapshot.is_lobby:
        summary = server(room_list=pb.RoomList(rooms=[snapshot.summary(count)]))
    else:
        summary = server(room_list=pb.RoomList(removed_room_ids=[snapshot.id]))
    await _message(actions.ROOM_LIST_TOPIC, summary)


@receiver(room_signals.owner_changed)
def on_owner_changed(sender: Any, room: Room, owner_user_id: int | None, **kwargs: Any) -> None:
    # The room was given to another account (the only way its stored owner changes).
    _run(_announce_new_owner, RoomSnapshot.of(room))


async def _announce_new_owner(snapshot: RoomSnapshot) -> None:
    """The new owner takes the crown if they are in the room; otherwise whoever holds it keeps
    it until they come (rooms.rules, "Ownership")."""
    runtime = current_runtime()
    if runtime is None:
        event = {"kind": "owner_changed", "owner_user_id": snapshot.owner_user_id}
        layer = get_channel_layer()
        if layer is not None and not isinstance(layer, InMemoryChannelLayer):
            topic = room_topic(snapshot.id)
            await layer.group_send(
                topic, {"type": "hub.control", "origin": "", "topic": topic, "event": event}
            )
        return
    members = await runtime.presence.members(snapshot.id)
    crown = await runtime.presence.owner(snapshot.id) or ""
    if any(record.user_id == snapshot.owner_user_id for record in members):
        crown = snapshot.owner_user_id
    if members:
        await actions.announce_owner(runtime, snapshot.with_crown(crown))


#: Ids per chat_deleted message: an admin may delete thousands at once, and one message must
#: fit in a frame (1,000 of the longest ids are about 22 KB of JSON).
CHAT_DELETED_CHUNK = 1000


def chat_deleted_messages(message_ids: list[int]) -> list[pb.ServerMessage]:
    ids = [str(i) for i in message_ids]
    return [
        server(chat_deleted=pb.ChatDeleted(message_ids=ids[start : start + CHAT_DELETED_CHUNK]))
        for start in range(0, len(ids), CHAT_DELETED_CHUNK)
    ]


@receiver(room_signals.chat_messages_deleted)
def on_chat_deleted(sender: Any, room_id: Any, message_ids: list[int], **kwargs: Any) -> None:
    for message in chat_deleted_messages(message_ids):
        _run(_message, room_topic(str(room_id)), message)


# --- Presence upkeep ---------------------------------------------------------------------------


async def member_reaped(room_id: str, record: MemberRecord) -> None:
    """A member of a dead instance was removed from presence by this process: tell the room."""
    runtime = current_runtime()
    if runtime is None:
        return
    snapshot = await actions.snapshot_of(room_id)
    if snapshot is None:
        return
    remaining = await runtime.presence.members(room_id)
    await actions.after_member_left(runtime, snapshot, record.user_id, record.session_id, remaining)


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
    limit = _idle_seconds()
    now = time.monotonic()
    for socket in runtime.hub.local_sockets():
        if isinstance(socket, PlayerSession) and now - socket.last_seen > limit:
            tasks.spawn(socket.close(4408), f"close-idle-{socket.session_id}")


#: How often, and after how long unchanged, empty non-persistent rooms are swept away.
ROOM_SWEEP_SECONDS = 60.0
ROOM_SWEEP_AGE = timedelta(minutes=10)


@database_sync_to_async
def _stale_rooms() -> list[str]:
    return room_services.stale_empty_room_candidates(ROOM_SWEEP_AGE)


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
            await actions.delete_if_still_empty(runtime, room_id)


async def on_tick(runtime: Runtime) -> None:
    runtime.allowances.prune(time.monotonic())
    await close_idle_sessions(runtime)
    await sweep_abandoned_rooms(runtime)
