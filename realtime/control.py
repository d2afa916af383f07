"""Applying control events to one socket: what a kick, a ban, a new owner or new settings
decided elsewhere (another socket, the admin, the REST API, another process) means for it.

The hub hands each subscribed socket the event (``PlayerSession.control``), which runs
``apply_control`` in the socket's own context; ``APPLIERS`` holds one coroutine per kind of
event in ``realtime.events``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from foundation.db import database_sync_to_async
from realtime import lifecycle
from realtime.closing import CloseCode
from realtime.events import (
    ControlEvent,
    CredentialsRevoked,
    CrownPassed,
    IdentityChanged,
    MuteChanged,
    Removed,
    RoomChanged,
    SiteBanned,
)
from realtime.handshake import identity_for_user
from realtime.hub import room_topic
from realtime.identity import Identity
from realtime.messages import RoomSnapshot, server
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.session import PlayerSession
from users.models import User

_REMOVAL = {
    "KICKED": pb.REMOVAL_REASON_KICKED,
    "BANNED": pb.REMOVAL_REASON_BANNED,
    "ROOM_CLOSED": pb.REMOVAL_REASON_ROOM_CLOSED,
    "SITE_BANNED": pb.REMOVAL_REASON_SITE_BANNED,
}


def _in_room_of(session: PlayerSession, topic: str) -> bool:
    """Whether the event's topic is the room this socket is in now (it may have moved on)."""
    return session.room is not None and room_topic(session.room.id) == topic


async def _removed(session: PlayerSession, topic: str, event: Removed) -> None:
    if event.user_id and event.user_id != session.user_id:
        return
    async with session.lock:
        if not _in_room_of(session, topic):
            return
        removed = pb.Removed(
            reason=_REMOVAL[event.reason], message=event.message, until=event.until
        )
        session.send(server(removed=removed))
        await lifecycle.leave_current_room(session)


async def _site_banned(session: PlayerSession, topic: str, event: SiteBanned) -> None:
    if event.user_id != session.user_id:
        return
    removed = pb.Removed(
        reason=pb.REMOVAL_REASON_SITE_BANNED,
        message="You are banned from the site.",
        until=event.until,
    )
    session.send(server(removed=removed))
    await session.close(CloseCode.SITE_BANNED)


async def _credentials_revoked(
    session: PlayerSession, topic: str, event: CredentialsRevoked
) -> None:
    if _credentials_match(session, event):
        await session.close(CloseCode.UNAUTHORIZED)


def _credentials_match(session: PlayerSession, event: CredentialsRevoked) -> bool:
    """Whether a revocation covers this socket: its account, and, when the event names one,
    its browser session or its sign-in (a logout ends only that one)."""
    if event.user_id != session.user_id:
        return False
    identity = session.identity
    if event.session_key:
        return event.session_key == identity.session_key
    if event.token_family:
        return event.token_family == identity.token_family
    return True


async def _identity_changed(session: PlayerSession, topic: str, event: IdentityChanged) -> None:
    if event.user_id == session.user_id:
        await refresh_identity(session)


async def _crown_passed(session: PlayerSession, topic: str, event: CrownPassed) -> None:
    if session.room is None or not _in_room_of(session, topic):
        return
    session.room = session.room.with_crown(event.crown).with_owner(event.owner_user_id)
    session.refresh_quota_tier()


async def _room_changed(session: PlayerSession, topic: str, event: RoomChanged) -> None:
    room = session.room
    if room is None or not _in_room_of(session, topic):
        return
    session.room = RoomSnapshot(
        id=room.id,
        name=event.name,
        is_lobby=room.is_lobby,
        has_password=event.has_password,
        settings=dict(event.settings),
        owner_user_id=room.owner_user_id,
        crown=room.crown,
    )
    session.refresh_quota_tier()


async def _mute_changed(session: PlayerSession, topic: str, event: MuteChanged) -> None:
    if event.user_id != session.user_id:
        return
    if event.muted:
        session.muted_until = event.until / 1000.0 if event.until else math.inf
    else:
        session.muted_until = None


#: What each kind of event does to a socket. The event's own type is the key; ``Any`` in the
#: signature only because one dict cannot say that each function takes its key's type.
APPLIERS: dict[type[ControlEvent], Callable[[PlayerSession, str, Any], Awaitable[None]]] = {
    Removed: _removed,
    SiteBanned: _site_banned,
    CredentialsRevoked: _credentials_revoked,
    IdentityChanged: _identity_changed,
    CrownPassed: _crown_passed,
    RoomChanged: _room_changed,
    MuteChanged: _mute_changed,
}


async def apply_control(session: PlayerSession, topic: str, event: ControlEvent) -> None:
    """Apply ``event``, published to ``topic``, to this socket."""
    await APPLIERS[type(event)](session, topic, event)


@database_sync_to_async
def _reload_identity(identity: Identity, account_id: int) -> Identity | None:
    """The socket's identity as the account is now; None if it may no longer connect."""
    user = User.objects.filter(pk=account_id).first()
    if user is None or not user.is_active or user.is_site_banned:
        return None
    return identity_for_user(user, identity.session_key, identity.token_family)


async def refresh_identity(session: PlayerSession) -> None:
    """The account changed (role, name, colour) elsewhere: this socket takes its new identity,
    and its room shows it."""
    account_id = session.identity.account_id
    if account_id is None:
        return
    async with session.lock:
        identity = await _reload_identity(session.identity, account_id)
        if identity is None:
            await session.close(CloseCode.UNAUTHORIZED)
            return
        session.identity = identity
        snapshot = session.room
        if snapshot is None:
            return
        runtime = session.runtime
        await runtime.presence.update_member(
            snapshot.id,
            session.session_id,
            display_name=identity.display_name or identity.username,
            color=identity.color,
            role=identity.role,
        )
        await lifecycle.publish_member(runtime, snapshot, session.session_id)
