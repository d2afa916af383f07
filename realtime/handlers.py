"""What each client message does (docs/protocol.md, Client messages).

One coroutine per ``ClientMessage`` field (``HANDLERS``), and the budgets costly requests
are spent from (``handle``). Rules and storage belong to ``rooms.services`` and
``users.services`` (called in a worker thread); presence and fan-out to the runtime. Note
batches and cursors, the hot path, touch no database and make no thread hop.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from django.conf import settings

from analytics import stats
from foundation.db import database_sync_to_async
from foundation.exceptions import DomainError, InvalidArgumentError, UnauthenticatedError
from moderation.models import ModerationAction
from observability import metrics
from observability.logs import bind_log_context
from realtime import lateness, lifecycle, quotas, tasks, validation
from realtime.codec import EncodedMessage
from realtime.events import MuteChanged, Removed
from realtime.exceptions import ProtocolError
from realtime.hub import room_topic
from realtime.lifecycle import ROOM_LIST_TOPIC
from realtime.messages import (
    RoomSnapshot,
    actor_of_record,
    chat_line,
    member,
    member_record,
    now_ms,
    room_state_messages,
    server,
)
from realtime.presence import MemberRecord
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.session import PlayerSession
from rooms import rules
from rooms import services as rooms
from rooms.exceptions import RoomForbiddenError, RoomFullError, RoomNotFoundError
from rooms.models import Room
from users import rules as user_rules
from users import services as users
from users.guests import is_guest_id
from users.models import User

logger = logging.getLogger(__name__)

SOURCE = ModerationAction.Source.WEBSOCKET
CURSOR_MIN_INTERVAL = quotas.CURSOR_MIN_INTERVAL


def _room(session: PlayerSession) -> RoomSnapshot:
    if session.room is None:
        raise ProtocolError("NOT_IN_ROOM", "Join a room first.")
    return session.room


def _room_id(session: PlayerSession) -> str:
    return _room(session).id


# --- Joining and leaving ---------------------------------------------------------------------


def _live_room(session: PlayerSession, room_id: str) -> Room:
    """The stored room (in a worker thread): who holds its crown is the actor's to say."""
    return rooms.get_room(room_id)


@database_sync_to_async
def _resolve_room(
    session: PlayerSession, join: pb.JoinRoom, lobby_counts: dict[str, int]
) -> tuple[Room, list[pb.ChatMessage], float | None]:
    """Find (or create) the room to enter and check the player may: in a worker thread."""
    name = join.room_name.strip()
    actor = session.actor
    if _wants_lobby(join):
        room = rooms.lobby_with_space(lambda lobby: lobby_counts.get(str(lobby.pk), 0))
    else:
        try:
            room = rooms.find_room(name)
        except RoomNotFoundError:
            if not join.create_if_missing:
                raise
            if session.identity.account_id is None:
                raise UnauthenticatedError("Sign in to create rooms.") from None
            owner = User.objects.get(pk=session.identity.account_id)
            room_settings = _settings_dict(join.settings)
            room = rooms.create_room(owner, {"name": name, **room_settings})
    rooms.check_can_join(actor, room, password=join.password, member_count=0)
    chat = [chat_line(m) for m in rooms.recent_messages(room)]
    # A mute outlives the socket: rejoining or a second tab does not lift it.
    mute = rooms.active_mute(room, actor)
    if mute is None:
        return room, chat, None
    return room, chat, mute.expires_at.timestamp() if mute.expires_at else math.inf


@database_sync_to_async
def _lobby_ids() -> list[str]:
    return [str(pk) for pk in Room.objects.filter(is_lobby=True).values_list("pk", flat=True)]


def _settings_dict(message: pb.RoomSettings) -> dict[str, Any]:
    return {f.name: value for f, value in message.ListFields()}


#: Lobbies tried by one join before it gives up with ROOM_FULL.
LOBBY_ATTEMPTS = 10
#: What a lobby that refused this join counts as when choosing the next one.
_SEEN_FULL = 1 << 30


def _wants_lobby(join: pb.JoinRoom) -> bool:
    name = join.room_name.strip()
    return not name or name.lower() == rules.LOBBY_NAME


async def _admit(
    session: PlayerSession, join: pb.JoinRoom
) -> tuple[Room, list[pb.ChatMessage], float | None, MemberRecord]:
    """Find the room, check the player may enter and take a seat in presence.

    A lobby that fills between choosing it and taking the seat (players crowding in at
    once) is skipped for the next one, made if needed, instead of refusing the player.
    """
    runtime = session.runtime
    wants_lobby = _wants_lobby(join)
    full_lobbies: set[str] = set()
    for _attempt in range(LOBBY_ATTEMPTS if wants_lobby else 1):
        lobby_counts: dict[str, int] = {}
        if wants_lobby:
            lobby_counts = await runtime.presence.member_counts(await _lobby_ids())
            lobby_counts.update(dict.fromkeys(full_lobbies, _SEEN_FULL))
        room, chat, muted_until = await _resolve_room(session, join, lobby_counts)
        record = member_record(
            session.identity, session.session_id, runtime.instance_id, muted=muted_until is not None
        )
        result = await runtime.presence.join(str(room.pk), record, room.max_members)
        if result.admitted:
            return room, chat, muted_until, record
        if not room.is_lobby:
            break
        full_lobbies.add(str(room.pk))
    raise RoomFullError()


async def join_room(session: PlayerSession, join: pb.JoinRoom) -> None:
    async with session.lock:
        if not _wants_lobby(join):
            validation.clean_room_name(join.room_name.strip())
        if session.room is not None:
            await lifecycle.leave_current_room(session)
        runtime = session.runtime
        room, chat, muted_until, record = await _admit(session, join)
        room_id = str(room.pk)
        snapshot = await _take_crown_if_due(session, RoomSnapshot.of(room))
        session.room = snapshot
        if session.identity.is_guest:
            await rooms.aremember_guest_address(
                room_id, session.user_id, session.identity.address_key
            )
        session.muted_until = muted_until
        session.joined_at = time.monotonic()
        await runtime.hub.subscribe(room_topic(room_id), session)
        members = await runtime.presence.members(room_id)
        lifecycle.count_local_rooms(runtime)
        identity = session.identity
        stats.recorder.record_join(
            user_id=identity.account_id,
            guest_id=identity.user_id if identity.is_guest else "",
            room_id=room_id,
            room_name=snapshot.name,
            members=len(members),
        )
        bind_log_context(room=snapshot.name)
        for message in room_state_messages(
            session.encoding,
            runtime.frame_limit,
            snapshot.to_proto(len(members)),
            [member(m, snapshot.crown) for m in members],
            chat,
        ):
            session.deliver(message)
        session.refresh_quota_tier()
        await runtime.hub.publish(
            room_topic(room_id),
            EncodedMessage(
                server(member_joined=pb.MemberJoined(member=member(record, snapshot.crown)))
            ),
            exclude_session=session.session_id,
        )
        await lifecycle.publish_count(runtime, snapshot, len(members))


async def _take_crown_if_due(session: PlayerSession, snapshot: RoomSnapshot) -> RoomSnapshot:
    """The crown on entering a room (rooms.rules, "Ownership"): the room's owner takes it back
    from whoever held it; the first one into an empty room holds it until the owner comes."""
    if snapshot.is_lobby:
        return snapshot
    runtime = session.runtime
    crown = await runtime.presence.owner(snapshot.id)
    is_room_owner = bool(snapshot.owner_user_id) and snapshot.owner_user_id == session.user_id
    if crown is None or (is_room_owner and crown != session.user_id):
        await lifecycle.announce_owner(
            runtime, snapshot.with_crown(session.user_id), exclude_session=session.session_id
        )
        return snapshot.with_crown(session.user_id)
    return snapshot.with_crown(crown)


async def leave_room(session: PlayerSession, _message: pb.LeaveRoom | None = None) -> None:
    async with session.lock:
        _room_id(session)
        await lifecycle.leave_current_room(session)


# --- The hot path: notes and cursors ---------------------------------------------------------


async def note_batch(session: PlayerSession, batch: pb.NoteBatch) -> None:
    received = time.perf_counter()
    room = session.room
    if room is None:
        raise ProtocolError("NOT_IN_ROOM", "Join a room first.")
    refusal = rules.play_refusal(session.actor, room.view(), muted=session.muted)
    if refusal is not None:
        raise ProtocolError(refusal, "You cannot play in this room now.")
    now = now_ms()
    cleaned = validation.clean_note_batch(batch, now)
    # The lag as the client sent it: a start_time too far off to use is played "now" by the
    # cleaning, and says nothing of how late the batch is (realtime.lateness).
    monotonic = time.monotonic()
    lag = lateness.clock_ms(monotonic) - batch.start_time
    if abs(lag) <= validation.MAX_CLOCK_SKEW_MS and session.arrival.late(lag, monotonic):
        # Read too late to play: the process is past what it can carry (realtime.lateness).
        metrics.late_notes_shed(1, "arrival")
        releases = lateness.releases_only(cleaned)
        if releases is None:
            return
        cleaned = releases
    allowed = await _spend_notes(session, room, len(cleaned.notes))
    if allowed < len(cleaned.notes):
        metrics.rate_limited("NOTE_QUOTA")
    if allowed == 0:
        return
    notes = cleaned.notes if allowed == len(cleaned.notes) else cleaned.notes[:allowed]
    relayed = pb.RelayedNotes(
        session_id=session.session_id, start_time=cleaned.start_time, notes=notes
    )
    await session.runtime.hub.publish(
        room_topic(room.id),
        EncodedMessage(server(note_batch=relayed)),
        exclude_session=session.session_id,
    )
    metrics.notes_relayed(allowed, time.perf_counter() - received)
    stats.recorder.record_notes(
        allowed, user_id=session.identity.account_id, room_id=room.id, room_name=room.name
    )


async def _spend_notes(session: PlayerSession, room: RoomSnapshot, count: int) -> int:
    """How many of ``count`` notes the player may play now: the quota is the player's in
    this room, whatever socket or instance the notes come from (realtime.buckets)."""
    tier = session.note_tier
    if tier.unlimited or count == 0:
        return count
    allowance = session.runtime.allowances.get(f"notes:{session.player_key}:{room.id}")
    return await allowance.take(count, quotas.note_rate(tier), tier.max, time.monotonic())


async def cursor(session: PlayerSession, move: pb.Cursor) -> None:
    """Relay a cursor move, at most one per CURSOR_MIN_INTERVAL per player (all its sockets
    in this process together): a move that comes sooner replaces the one waiting on its
    socket and is sent when its turn comes."""
    room = _room(session)
    position = validation.clean_cursor(move.x, move.y)
    wait = session.cursor_gate.delay(time.monotonic())
    if wait == 0.0:
        session.cancel_pending_cursor()
        await _publish_cursor(session, room, position)
        return
    session.pending_cursor = position
    if session.cursor_timer is None:
        session.cursor_timer = tasks.spawn_later(
            wait, lambda: _send_pending_cursor(session, room), f"cursor-{session.session_id}"
        )


async def _send_pending_cursor(session: PlayerSession, room: RoomSnapshot) -> None:
    session.cursor_timer = None
    if session.closed or session.room is None or session.room.id != room.id:
        session.pending_cursor = None
        return
    # Another socket of the player may have taken the turn meanwhile: wait for the next.
    wait = session.cursor_gate.delay(time.monotonic())
    if wait > 0.0:
        session.cursor_timer = tasks.spawn_later(
            wait, lambda: _send_pending_cursor(session, room), f"cursor-{session.session_id}"
        )
        return
    position, session.pending_cursor = session.pending_cursor, None
    if position is not None:
        await _publish_cursor(session, room, position)


async def _publish_cursor(
    session: PlayerSession, room: RoomSnapshot, position: tuple[float, float]
) -> None:
    x, y = position
    await session.runtime.hub.publish(
        room_topic(room.id),
        EncodedMessage(server(cursor=pb.CursorMoved(session_id=session.session_id, x=x, y=y))),
        exclude_session=session.session_id,
    )


# --- Chat, time, profile ---------------------------------------------------------------------


@database_sync_to_async
def _post_chat(session: PlayerSession, room_id: str, text: str) -> pb.ChatMessage:
    message = rooms.post_chat_message(
        _live_room(session, room_id),
        replace(session.actor, name=session.identity.display_name or session.identity.username),
        text,
        session_id=session.session_id,
        muted=session.muted,
    )
    return chat_line(message, session.identity.role)


async def chat(session: PlayerSession, send: pb.ChatSend) -> None:
    room_id = _room_id(session)
    privileged = session.is_owner or session.identity.is_site_moderator
    limiter = session.chat_limit(privileged=privileged)
    now = time.monotonic()
    # The socket's own window, then the player's across all its sockets and instances.
    shared = session.runtime.allowances.get(f"chat:{session.player_key}", lease=False)
    if not limiter.allow(now) or not await shared.take(
        1, limiter.limit / limiter.window, limiter.limit, now
    ):
        metrics.rate_limited("CHAT")
        raise ProtocolError("RATE_LIMITED", "You are sending messages too fast.")
    # The chat service cleans and judges the text (rooms.rules.clean_chat_text), once.
    line = await _post_chat(session, room_id, send.text)
    await session.runtime.hub.publish(room_topic(room_id), EncodedMessage(server(chat=line)))
    room_name = session.room.name if session.room is not None else ""
    stats.recorder.record_chat(
        user_id=session.identity.account_id, room_id=room_id, room_name=room_name
    )


async def time_sync(session: PlayerSession, sync: pb.TimeSync) -> None:
    client_time = sync.client_time if math.isfinite(sync.client_time) else 0.0
    session.send(server(time_sync=pb.TimeSyncReply(client_time=client_time, server_time=now_ms())))


@database_sync_to_async
def _save_profile(account_id: int, changes: dict[str, str]) -> tuple[str, str]:
    user = users.update_profile(User.objects.get(pk=account_id), **changes)
    return user.shown_name, user.color


@database_sync_to_async
def _check_guest_name(name: str) -> None:
    """A guest's chosen name may not pass for an account's username, as no display name may."""
    users.check_display_name(name)


async def update_profile(session: PlayerSession, update: pb.UpdateProfile) -> None:
    changes: dict[str, str] = {}
    if update.HasField("display_name"):
        changes["display_name"] = validation.clean_display_name(update.display_name)
    if update.HasField("color"):
        changes["color"] = update.color
    if not changes:
        raise InvalidArgumentError("Nothing to change.")
    if session.identity.account_id is not None:
        name, color = await _save_profile(session.identity.account_id, changes)
    else:
        problem = user_rules.color_problem(changes["color"]) if "color" in changes else None
        if problem:
            raise InvalidArgumentError(problem)
        if changes.get("display_name"):
            await _check_guest_name(changes["display_name"])
        name = changes.get("display_name") or session.identity.username
        color = changes.get("color", session.identity.color).lower()
    session.identity = session.identity.with_profile(name, color)
    if session.room is not None:
        runtime = session.runtime
        await runtime.presence.update_member(
            session.room.id, session.session_id, display_name=name, color=color
        )
        await lifecycle.publish_member(runtime, session.room, session.session_id)


# --- Room list --------------------------------------------------------------------------------


@database_sync_to_async
def _listed_rooms(
    query: str, occupied: dict[str, int], limit: int
) -> tuple[list[RoomSnapshot], bool]:
    """The lobby list for ``query``: the main lobby, then the busiest listed rooms, then
    empty ones by name, ``limit`` in all; and whether more rooms match than that."""
    listed = rooms.listed_rooms(query)
    main = listed.filter(is_lobby=True, name__iexact=rules.LOBBY_NAME).first()
    others = listed.exclude(pk=main.pk) if main is not None else listed
    busy = sorted(
        others.filter(pk__in=list(occupied)),
        key=lambda room: (-occupied[str(room.pk)], room.name.lower()),
    )
    chosen = ([main] if main is not None else []) + busy
    if len(chosen) <= limit:
        chosen += others.exclude(pk__in=list(occupied))[: limit - len(chosen) + 1]
    return [RoomSnapshot.of(room) for room in chosen[:limit]], len(chosen) > limit


async def room_list(session: PlayerSession, subscribe: pb.SubscribeRoomList) -> None:
    """Start or stop the live lobby list: a bounded full list first (it always fits in one
    frame), then every change of a listed room."""
    hub = session.runtime.hub
    if not subscribe.subscribe:
        session.watching_room_list = False
        await hub.unsubscribe(ROOM_LIST_TOPIC, session)
        return
    query = validation.clean_room_query(subscribe.query)
    session.watching_room_list = True
    await hub.subscribe(ROOM_LIST_TOPIC, session)
    occupied = await session.runtime.presence.occupied_rooms()
    snapshots, truncated = await _listed_rooms(query, occupied, settings.ROOM_LIST_LIMIT)
    summaries = [s.summary(occupied.get(s.id, 0)) for s in snapshots]
    session.send(server(room_list=pb.RoomList(rooms=summaries, full=True, truncated=truncated)))


# --- Room settings and moderation --------------------------------------------------------------


@database_sync_to_async
def _update_room(session: PlayerSession, room_id: str, changes: dict[str, Any]) -> None:
    rooms.update_room(session.actor, _live_room(session, room_id), changes, SOURCE)


async def update_room(session: PlayerSession, update: pb.UpdateRoom) -> None:
    room_id = _room_id(session)
    changes = _settings_dict(update.settings)
    if not changes:
        raise InvalidArgumentError("Nothing to change.")
    # The room_updated signal of the service tells every member, this player included.
    await _update_room(session, room_id, changes)


@database_sync_to_async
def _moderate(
    session: PlayerSession, room_id: str, move: pb.Moderate, target: MemberRecord | None
) -> float:
    """Check and record a moderation action; returns when it ends (0: no end)."""
    room = _live_room(session, room_id)
    actor = session.actor
    target_id = move.target_user_id
    if move.action == pb.MODERATION_ACTION_BAN:
        return _ban(actor, room, move, target)
    if move.action == pb.MODERATION_ACTION_UNBAN:
        _unban(actor, room, move)
        return 0.0
    if move.action == pb.MODERATION_ACTION_GIVE_OWNERSHIP:
        if is_guest_id(target_id):
            raise InvalidArgumentError("Only a registered player can own a room.")
        rooms.give_ownership(actor, room, _account(target_id), source=SOURCE, reason=move.reason)
        return 0.0
    if target is None:
        raise ProtocolError("INVALID_ARGUMENT", "That player is not in this room.")
    target_actor = actor_of_record(target, session.room.crown if session.room else "")
    if move.action == pb.MODERATION_ACTION_KICK:
        rooms.kick_from_room(actor, room, target_actor, reason=move.reason, source=SOURCE)
        return 0.0
    if move.action == pb.MODERATION_ACTION_MUTE:
        action = rooms.mute_in_room(
            actor,
            room,
            target_actor,
            duration_seconds=move.duration_seconds or None,
            reason=move.reason,
            source=SOURCE,
        )
        return action.expires_at.timestamp() * 1000.0 if action.expires_at else 0.0
    if move.action == pb.MODERATION_ACTION_UNMUTE:
        rooms.unmute_in_room(actor, room, target_actor, reason=move.reason, source=SOURCE)
        return 0.0
    raise InvalidArgumentError("Unknown moderation action.")


def _ban(actor: rules.Actor, room: Room, move: pb.Moderate, target: MemberRecord | None) -> float:
    """Ban a guest (and the address it joined from) or an account; returns when it ends."""
    duration = move.duration_seconds or None
    if is_guest_id(move.target_user_id):
        ban = rooms.ban_from_room(
            actor,
            room,
            guest_id=move.target_user_id,
            guest_name=target.username if target else "",
            guest_address_key=target.address_key if target else "",
            duration_seconds=duration,
            reason=move.reason,
            source=SOURCE,
        )
    else:
        ban = rooms.ban_from_room(
            actor,
            room,
            target_user=_account(move.target_user_id),
            duration_seconds=duration,
            reason=move.reason,
            source=SOURCE,
        )
    return ban.expires_at.timestamp() * 1000.0 if ban.expires_at else 0.0


def _unban(actor: rules.Actor, room: Room, move: pb.Moderate) -> None:
    if is_guest_id(move.target_user_id):
        rooms.unban_from_room(
            actor, room, guest_id=move.target_user_id, reason=move.reason, source=SOURCE
        )
    else:
        target_user = _account(move.target_user_id)
        rooms.unban_from_room(
            actor, room, target_user=target_user, reason=move.reason, source=SOURCE
        )


def _account(user_id: str) -> User:
    """The account ``user_id`` names (already checked by ``validation.clean_player_id``)."""
    user = User.objects.filter(pk=int(user_id)).first()
    if user is None:
        raise InvalidArgumentError("No such player.")
    return user


async def moderate(session: PlayerSession, move: pb.Moderate) -> None:
    snapshot = _room(session)
    room_id = snapshot.id
    # Permission first, from the room as this socket knows it: a player who may not moderate
    # learns nothing about the target, and a hostile target id costs no database work.
    if not rules.can_moderate(session.actor, snapshot.view()):
        raise RoomForbiddenError()
    validation.clean_player_id(move.target_user_id)
    runtime = session.runtime
    members = await runtime.presence.members(room_id)
    target = next((m for m in members if m.user_id == move.target_user_id), None)
    until = await _moderate(session, room_id, move, target)
    topic = room_topic(room_id)
    if move.action == pb.MODERATION_ACTION_KICK:
        await runtime.hub.publish_control(
            topic,
            Removed(
                reason="KICKED",
                user_id=move.target_user_id,
                message=move.reason or "You were kicked.",
            ),
        )
    elif move.action in (pb.MODERATION_ACTION_MUTE, pb.MODERATION_ACTION_UNMUTE):
        muted = move.action == pb.MODERATION_ACTION_MUTE
        for record in members:
            if record.user_id == move.target_user_id:
                await runtime.presence.update_member(room_id, record.session_id, muted=muted)
        await runtime.hub.publish_control(
            topic, MuteChanged(user_id=move.target_user_id, muted=muted, until=until)
        )
        current = session.room
        if current is not None:
            for record in members:
                if record.user_id == move.target_user_id:
                    await lifecycle.publish_member(runtime, current, record.session_id)
    # BAN and GIVE_OWNERSHIP reach the sockets through the services' signals (realtime.receivers),
    # the same path as a ban from the admin or the REST API.


Handler = Callable[[PlayerSession, Any], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "join_room": join_room,
    "leave_room": leave_room,
    "note_batch": note_batch,
    "chat": chat,
    "time_sync": time_sync,
    "update_room": update_room,
    "moderate": moderate,
    "cursor": cursor,
    "room_list": room_list,
    "update_profile": update_profile,
}


#: Requests that cost the server database work or a broadcast to many. On top of each
#: socket's frame rate, a player, all of its sockets on every instance, may make ten a second
#: (bursts of 50: guests behind one address, a class at school, are one player), and a socket
#: one a second (bursts of 10) of those anyone may send.
COSTLY_REQUESTS = frozenset(
    {"join_room", "leave_room", "room_list", "update_room", "moderate", "update_profile"}
)
#: Requests that carry text (names, searches, reasons, passwords, chat).
TEXT_REQUESTS = COSTLY_REQUESTS | {"chat"}
#: Of those, the ones that need no powers (a room's owner clearing a raid need not wait).
ANYONES_REQUESTS = frozenset({"join_room", "leave_room", "room_list", "update_profile"})
PLAYER_REQUEST_RATE = 10.0
PLAYER_REQUEST_BURST = 50


class SustainedFloodError(ProtocolError):
    """A socket that goes on sending requests it is refused: it is closed (4429)."""

    def __init__(self) -> None:
        super().__init__("RATE_LIMITED", "Too many requests refused; closing.")


async def _within_request_budget(session: PlayerSession, kind: str, now: float) -> bool:
    if kind not in ANYONES_REQUESTS or session.request_limit.allow(now):
        budget = session.runtime.allowances.get(f"requests:{session.player_key}", lease=False)
        if await budget.take(1, PLAYER_REQUEST_RATE, PLAYER_REQUEST_BURST, now):
            return True
    return False


async def handle(session: PlayerSession, message: pb.ClientMessage) -> None:
    """Carry out one request. A costly request over its budget is refused: RATE_LIMITED for
    the first of a run, silence for the rest, SustainedFloodError for a socket that does not
    stop (``quotas.RefusedRequests``)."""
    kind = message.WhichOneof("kind")
    if kind is None:
        raise ProtocolError("BAD_MESSAGE", "The message is empty.")
    if kind in TEXT_REQUESTS:
        validation.refuse_null_characters(message)
    if kind in COSTLY_REQUESTS:
        now = time.monotonic()
        if not await _within_request_budget(session, kind, now):
            metrics.rate_limited("REQUESTS")
            verdict = session.refused_requests.refuse(now)
            if verdict is quotas.RefusalVerdict.CLOSE:
                raise SustainedFloodError()
            if verdict is quotas.RefusalVerdict.ANSWER:
                raise ProtocolError("RATE_LIMITED", "Too many requests; wait a moment.")
            return
        session.refused_requests.granted()
    await HANDLERS[kind](session, getattr(message, kind))


def error_code_of(exc: DomainError) -> str:
    """The protocol ErrorCode for a domain error; codes the protocol lacks become
    INVALID_ARGUMENT (e.g. ROOM_NAME_TAKEN, or a ban to lift that is not there) or
    FORBIDDEN (e.g. SITE_BANNED)."""
    if f"ERROR_CODE_{exc.code}" in pb.ErrorCode.keys():  # noqa: SIM118 - an enum wrapper
        return exc.code
    if exc.http_status in (401, 403):
        return "FORBIDDEN"
    # Not 404 -> ROOM_NOT_FOUND: a missing room has that code already, and anything else not
    # found (the ban an unban names) is about the request's arguments, not the room.
    if exc.http_status == 429:
        return "RATE_LIMITED"
    return "INVALID_ARGUMENT"
