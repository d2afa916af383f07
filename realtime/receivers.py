"""State changes made anywhere (a room, the admin, the REST API) reaching live sockets.

The services of ``rooms`` and ``users`` send signals after their transaction commits; the
receivers here turn them into control events (``realtime.events``) and messages through the
hub, so a ban from the admin and a ban from a room owner's socket are one service call and
one path to the sockets.

Receivers run in the thread that committed. They hand the work to the event loop that owns
this process's runtime; in a process that has none (a management command, a test without
sockets), events still reach other processes through the channel layer when it is shared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from realtime import lifecycle
from realtime.codec import EncodedMessage
from realtime.events import (
    ControlEvent,
    CredentialsRevoked,
    CrownPassed,
    IdentityChanged,
    Removed,
    RoomChanged,
    SiteBanned,
)
from realtime.hub import EVERYWHERE, publish_without_hub, room_topic
from realtime.messages import RoomSnapshot, server
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.runtime import current_runtime
from rooms import signals as room_signals
from rooms.models import Room
from users.models import User
from users.signals import credentials_changed, identity_changed, sign_in_ended, site_ban_changed

logger = logging.getLogger(__name__)


# --- Getting from a committing thread to the event loop ---------------------------------------


def _run(coroutine_function: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
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
    else:
        await publish_without_hub(topic, event)


async def _message(topic: str, message: pb.ServerMessage) -> None:
    runtime = current_runtime()
    if runtime is not None:
        await runtime.hub.publish(topic, EncodedMessage(message))
    else:
        await publish_without_hub(topic, EncodedMessage(message))


async def _count(room_id: str) -> int:
    runtime = current_runtime()
    return await runtime.presence.member_count(room_id) if runtime is not None else 0


# --- Accounts ----------------------------------------------------------------------------------


@receiver(site_ban_changed)
def on_site_ban_changed(
    sender: Any, user_id: int, banned_until: datetime | None, **kwargs: Any
) -> None:
    if banned_until is None:
        return
    until = banned_until.timestamp() * 1000.0 if banned_until.year < 9999 else 0.0
    _run(_control, EVERYWHERE, SiteBanned(user_id=str(user_id), until=until))


@receiver(user_logged_out)
def on_logged_out(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    if user is None or request is None:
        return
    key = getattr(request.session, "session_key", None) or ""
    _run(_control, EVERYWHERE, CredentialsRevoked(user_id=str(user.pk), session_key=key))


@receiver(credentials_changed)
def on_credentials_changed(sender: Any, user_id: int, why: str, **kwargs: Any) -> None:
    # A changed password, a deactivated or deleted account: every socket of it closes.
    _run(_control, EVERYWHERE, CredentialsRevoked(user_id=str(user_id)))


@receiver(sign_in_ended)
def on_sign_in_ended(sender: Any, user_id: int, family: str, **kwargs: Any) -> None:
    _run(_control, EVERYWHERE, CredentialsRevoked(user_id=str(user_id), token_family=family))


@receiver(identity_changed)
def on_identity_changed(sender: Any, user_id: int, **kwargs: Any) -> None:
    _run(_control, EVERYWHERE, IdentityChanged(user_id=str(user_id)))


# --- Rooms -------------------------------------------------------------------------------------


@receiver(room_signals.member_banned)
def on_member_banned(
    sender: Any,
    room: Room,
    user_id: int | None,
    guest_id: str,
    expires_at: datetime | None,
    reason: str,
    **kwargs: Any,
) -> None:
    until = expires_at.timestamp() * 1000.0 if expires_at is not None else 0.0
    event = Removed(
        reason="BANNED",
        user_id=str(user_id) if user_id is not None else guest_id,
        message=reason or "You are banned from this room.",
        until=until,
    )
    _run(_control, room_topic(str(room.pk)), event)


@receiver(room_signals.room_closed)
def on_room_closed(sender: Any, room_id: Any, room_name: str, reason: str, **kwargs: Any) -> None:
    topic = room_topic(str(room_id))
    event = Removed(reason="ROOM_CLOSED", user_id="", message=reason or "The room was closed.")
    _run(_control, topic, event)
    removed = server(room_list=pb.RoomList(removed_room_ids=[str(room_id)]))
    _run(_message, lifecycle.ROOM_LIST_TOPIC, removed)


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
    event = RoomChanged(
        name=snapshot.name, has_password=snapshot.has_password, settings=snapshot.settings
    )
    await _control(topic, event)
    await _message(topic, server(room_updated=pb.RoomUpdated(room=snapshot.to_proto(count))))
    if snapshot.settings.get("is_public") or snapshot.is_lobby:
        summary = server(room_list=pb.RoomList(rooms=[snapshot.summary(count)]))
    else:
        summary = server(room_list=pb.RoomList(removed_room_ids=[snapshot.id]))
    await _message(lifecycle.ROOM_LIST_TOPIC, summary)


@receiver(room_signals.owner_changed)
def on_owner_changed(sender: Any, room: Room, owner_user_id: int | None, **kwargs: Any) -> None:
    # The room was given to another account (the only way its stored owner changes).
    _run(_announce_new_owner, RoomSnapshot.of(room))


async def _announce_new_owner(snapshot: RoomSnapshot) -> None:
    """The new owner takes the crown if they are in the room; otherwise whoever holds it keeps
    it until they come (rooms.rules, "Ownership")."""
    runtime = current_runtime()
    if runtime is None:
        # Who holds the crown is presence's to say, and this process has none: the event
        # carries the new owner only.
        event = CrownPassed(crown="", owner_user_id=snapshot.owner_user_id)
        await publish_without_hub(room_topic(snapshot.id), event)
        return
    members = await runtime.presence.members(snapshot.id)
    crown = await runtime.presence.owner(snapshot.id) or ""
    if any(record.user_id == snapshot.owner_user_id for record in members):
        crown = snapshot.owner_user_id
    if members:
        await lifecycle.announce_owner(runtime, snapshot.with_crown(crown))


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
