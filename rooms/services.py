"""Room use cases, one function each, shared by the REST API, the admin and the sockets.

Every function takes the acting identity (a ``User`` or a ``rules.Actor``, which also covers
guests) and the room, checks permissions with ``rooms.rules``, and raises the domain errors
of ``rooms.exceptions``. Every moderation path writes a ModerationAction through
``record_moderation``. Live sockets learn about changes from ``rooms.signals``, sent after
commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from foundation.exceptions import InvalidArgumentError
from moderation import records
from moderation.models import ModerationAction
from rooms import rules, signals
from rooms.exceptions import (
    BannedError,
    BanNotFoundError,
    ChatDisabledError,
    GuestsNotAllowedError,
    InvalidChatMessageError,
    InvalidRoomSettingsError,
    LobbyProtectedError,
    MutedError,
    RoomForbiddenError,
    RoomFullError,
    RoomLimitReachedError,
    RoomNameTakenError,
    RoomNotFoundError,
)
from rooms.models import ChatMessage, Room, RoomBan, RoomMute
from rooms.passwords import check_room_password, hash_room_password
from users.models import User

ActorLike = User | rules.Actor
Action = ModerationAction.Action
Source = ModerationAction.Source

REASON_MAX_LENGTH = 255
# Ten years: long enough to mean "for good" while keeping datetimes in range.
MAX_BAN_SECONDS = 10 * 365 * 24 * 3600
RECENT_CHAT_LIMIT = 50

# --- Identities and views ----------------------------------------------------------------


def actor_for_user(user: AbstractBaseUser | AnonymousUser) -> rules.Actor:
    """The rules' view of a user; anonymous visitors become a nameless guest."""
    if not isinstance(user, User):
        return rules.Actor(user_id=None, role=rules.Role.GUEST, name="anonymous")
    role = rules.Role.ADMIN if user.is_superuser else user.role
    return rules.Actor(user_id=user.pk, role=role, name=user.username)


def guest_actor(guest_id: str, name: str = "") -> rules.Actor:
    """A guest identity (stable for a browser session) as the rules see it."""
    if not guest_id:
        raise InvalidArgumentError("A guest needs a guest id.")
    return rules.Actor(user_id=None, role=rules.Role.GUEST, guest_id=guest_id, name=name)


def _as_actor(who: ActorLike) -> rules.Actor:
    return who if isinstance(who, rules.Actor) else actor_for_user(who)


def room_view(room: Room) -> rules.RoomView:
    """The rules' view of ``room`` (who holds its crown is the acting ``rules.Actor``'s to say:
    only the real-time layer knows)."""
    return rules.RoomView(
        owner_user_id=room.owner_id,
        is_lobby=room.is_lobby,
        has_password=room.has_password,
        **{setting.name: getattr(room, setting.name) for setting in rules.VIEWED_SETTINGS},
    )


def _identity_key(actor: rules.Actor) -> str:
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"guest:{actor.guest_id}"


def _clean_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidArgumentError(f"A reason is at most {REASON_MAX_LENGTH} characters.")
    return reason


def _check_source(source: str) -> str:
    if source not in Source.values:
        raise InvalidArgumentError(f"Unknown moderation source {source!r}.")
    return source


# --- Reading rooms --------------------------------------------------------------------------


def get_room(room_id: uuid.UUID | str) -> Room:
    """The room with this id, or RoomNotFoundError."""
    try:
        return Room.objects.select_related("owner").get(pk=room_id)
    except (Room.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise RoomNotFoundError() from exc


def find_room(name: str) -> Room:
    """The room with this name, compared case-insensitively, or RoomNotFoundError."""
    room = Room.objects.select_related("owner").filter(name__iexact=name).first()
    if room is None:
        raise RoomNotFoundError()
    return room


def get_visible_room(who: ActorLike, room_id: uuid.UUID | str) -> Room:
    """The room, if ``who`` may see it; a private room is not found for anyone else.

    Not-found and not-allowed look the same so that room ids cannot be probed.
    """
    room = get_room(room_id)
    if not rules.can_see_room(_as_actor(who), room_view(room)):
        raise RoomNotFoundError()
    return room


def listed_rooms(query: str = "") -> QuerySet[Room]:
    """The rooms anyone may list: public rooms and the lobbies, lobbies first, then by name;
    with ``query``, those whose name contains it (in any case)."""
    rooms = Room.objects.select_related("owner").filter(Q(is_public=True) | Q(is_lobby=True))
    if query:
        rooms = rooms.filter(name__icontains=query)
    return rooms.order_by("-is_lobby", "name", "id")


MemberCounter = Callable[[Sequence[str]], dict[str, int]]
#: Whether a player (an account id as a string, or a guest id) is in a room now.
PresenceCheck = Callable[[str, str], bool]


def _no_presence(room_ids: Sequence[str]) -> dict[str, int]:
    return {}


def _nobody_present(room_id: str, user_id: str) -> bool:
    return False


_member_counter: MemberCounter = _no_presence
_is_present: PresenceCheck = _nobody_present


def set_presence_reader(counter: MemberCounter, is_present: PresenceCheck) -> None:
    """Where live member counts and membership come from: the real-time layer's presence
    store plugs itself in here at start-up, so rooms need not know about sockets."""
    global _member_counter, _is_present
    _member_counter = counter
    _is_present = is_present


def can_read_history(who: ActorLike, room: Room) -> bool:
    """Whether ``who`` may read ``room``'s chat history and welcome message (``rules``)."""
    actor = _as_actor(who)
    view = room_view(room)
    if not room.has_password or rules.can_moderate(actor, view):
        return rules.can_see_room(actor, view)
    player = str(actor.user_id) if actor.user_id is not None else actor.guest_id
    banned = active_ban(room, user_id=actor.user_id, guest_id=actor.guest_id) is not None
    present = bool(player) and not banned and _is_present(str(room.pk), player)
    return rules.can_read_history(actor, view, present=present, banned=banned)


def get_room_with_history(who: ActorLike, room_id: uuid.UUID | str) -> Room:
    """The room, if ``who`` may read its chat history; RoomNotFoundError otherwise, so that
    a password room's history answers outsiders as a private room does."""
    room = get_visible_room(who, room_id)
    if not can_read_history(who, room):
        raise RoomNotFoundError()
    return room


def member_counts(rooms: Iterable[Room]) -> dict[str, int]:
    """How many are in each of ``rooms`` right now, by room id (as a string)."""
    ids = [str(room.pk) for room in rooms]
    counts = _member_counter(ids) if ids else {}
    return {room_id: counts.get(room_id, 0) for room_id in ids}


def member_count(room: Room) -> int:
    """How many are in ``room`` right now (the real-time layer's presence)."""
    return member_counts([room])[str(room.pk)]


# --- Creating, updating and closing ------------------------------------------------------


def _apply_settings(room: Room, cleaned: Mapping[str, Any]) -> list[str]:
    """Copy validated settings onto ``room``; return the model fields that changed."""
    changed = []
    for key, value in cleaned.items():
        if key == "password":
            room.password_hash = hash_room_password(value)
            changed.append("password_hash")
        elif getattr(room, key) != value:
            setattr(room, key, value)
            changed.append(key)
    return changed


def _validate(changes: Mapping[str, Any], *, is_lobby: bool) -> dict[str, Any]:
    try:
        return rules.validate_room_settings(changes, is_lobby=is_lobby)
    except rules.RoomSettingsInvalidError as exc:
        raise InvalidRoomSettingsError(exc.fields) from exc


def _check_name_free(name: str, *, exclude: Room | None = None) -> None:
    taken = Room.objects.filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise RoomNameTakenError()


def _lock_account(user: User) -> None:
    """Serialise changes to what ``user`` owns (inside a transaction). PostgreSQL locks the
    account's row; SQLite takes its one write lock at the start of every transaction
    (``transaction_mode`` IMMEDIATE in the settings)."""
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))


def check_room_allowance(user: User) -> None:
    """Raise RoomLimitReachedError if ``user`` owns MAX_ROOMS_PER_ACCOUNT rooms already;
    site moderators are exempt."""
    if user.is_site_moderator:
        return
    limit = django_settings.MAX_ROOMS_PER_ACCOUNT
    if Room.objects.filter(owner=user, is_lobby=False).count() >= limit:
        raise RoomLimitReachedError(
            f"You own {limit} rooms, as many as an account may; close one to open another."
        )


def create_room(actor_user: User, settings: Mapping[str, Any]) -> Room:
    """Create a room owned by ``actor_user`` from RoomSettings fields plus ``name``.

    Raises InvalidRoomSettingsError (INVALID_ARGUMENT; lobby names are reserved),
    RoomNameTakenError when the name exists in any case, BannedError for site-banned users,
    RoomLimitReachedError past the rooms an account may own.
    """
    if actor_user.is_site_banned:
        raise BannedError("You are banned from the site.", until=actor_user.banned_until)
    check_room_allowance(actor_user)
    if "name" not in settings:
        raise InvalidRoomSettingsError({"name": "Give the room a name."})
    cleaned = _validate(settings, is_lobby=False)
    _check_name_free(cleaned["name"])
    room = Room(owner=actor_user)
    _apply_settings(room, cleaned)
    try:
        with transaction.atomic():
            # Counted again under a lock on the owner: concurrent creations cannot all pass
            # a count each made before the others' inserts.
            _lock_account(actor_user)
            check_room_allowance(actor_user)
            room.save()
    except IntegrityError as exc:
        # Someone took the name between the check and the insert.
        raise RoomNameTakenError() from exc
    return room


def check_room_changes(room: Room, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``changes`` to ``room`` without saving; return them cleaned.

    Raises InvalidRoomSettingsError (per-field messages) or RoomNameTakenError.
    """
    cleaned = _validate(changes, is_lobby=room.is_lobby)
    if "name" in cleaned:
        _check_name_free(cleaned["name"], exclude=room)
    return cleaned


def update_room(
    who: ActorLike, room: Room, changes: Mapping[str, Any], source: str, reason: str = ""
) -> Room:
    """Change some of ``room``'s settings (only the keys given); ``password`` "" clears it.

    Owner or site moderator only (RoomForbiddenError, nothing changes). A site moderator
    changing someone else's room is recorded as UPDATE_ROOM.
    """
    actor = _as_actor(who)
    _check_source(source)
    if not rules.can_update_room(actor, room_view(room)):
        raise RoomForbiddenError()
    cleaned = check_room_changes(room, changes)
    reason = _clean_reason(reason)
    changed = _apply_settings(room, cleaned)
    if not changed:
        return room
    try:
        with transaction.atomic():
            room.save(update_fields=[*changed, "updated_at"])
            if not rules.is_room_owner(actor, room_view(room)):
                shown = sorted("password" if f == "password_hash" else f for f in changed)
                record_moderation(
                    actor,
                    Action.UPDATE_ROOM,
                    source,
                    room=room,
                    reason=reason or f"Changed {', '.join(shown)}.",
                )
    except IntegrityError as exc:
        room.refresh_from_db()
        raise RoomNameTakenError() from exc
    signals.send_on_commit(signals.room_updated, room=room, changed=frozenset(changed))
    return room


def close_room(who: ActorLike, room: Room, source: str, reason: str = "") -> None:
    """Delete ``room`` (bans and chat go with it) after recording CLOSE_ROOM.

    Owner or site moderator only (or the crown holder of a room without an owner); lobbies
    are never closed (LobbyProtectedError).
    """
    actor = _as_actor(who)
    _check_source(source)
    if not rules.can_close_room(actor, room_view(room)):
        raise LobbyProtectedError() if room.is_lobby else RoomForbiddenError()
    reason = _clean_reason(reason)
    room_id, room_name = room.pk, room.name
    with transaction.atomic():
        record_moderation(actor, Action.CLOSE_ROOM, source, room=room, reason=reason)
        room.delete()
    signals.send_on_commit(signals.room_closed, room_id=room_id, room_name=room_name, reason=reason)


# --- Joining ----------------------------------------------------------------------------------


def check_can_join(
    who: ActorLike,
    room: Room,
    *,
    password: str = "",
    member_count: int = 0,
) -> None:
    """Raise why ``who`` may not enter ``room`` now, if anything stops them.

    BannedError, GuestsNotAllowedError, RoomFullError (``member_count`` is the live count
    from presence), then the password: PasswordGuessesError (RATE_LIMITED) after repeated
    wrong guesses, WrongPasswordError. Owners and site moderators need no password.
    """
    actor = _as_actor(who)
    view = room_view(room)
    ban = active_ban(
        room, user_id=actor.user_id, guest_id=actor.guest_id, address_key=actor.address_key
    )
    refusal = rules.join_refusal(actor, view, member_count=member_count, banned=ban is not None)
    if refusal == "BANNED":
        raise BannedError(until=ban.expires_at if ban else None)
    if refusal == "GUESTS_NOT_ALLOWED":
        raise GuestsNotAllowedError()
    if refusal == "ROOM_FULL":
        raise RoomFullError()
    if rules.needs_password(actor, view):
        # A guest is known by its address where there is one: one counter per room, however
        # many guest ids the address goes through. An account counts on its own.
        guesser = (
            f"addr:{actor.address_key}"
            if actor.is_guest and actor.address_key
            else _identity_key(actor)
        )
        check_room_password(room, password, guesser=guesser)


# --- Bans -----------------------------------------------------------------------------------

#: How long a room remembers the address a guest joined it from, so that a ban on a guest
#: who has left (the usual troll) or a ban made over REST still holds for that address.
GUEST_ADDRESS_SECONDS = 24 * 3600


def _guest_address_cache_key(room_id: uuid.UUID | str, guest_id: str) -> str:
    return f"rooms:guest-address:{room_id}:{guest_id}"


async def aremember_guest_address(room_id: str, guest_id: str, address_key: str) -> None:
    """Note where a guest joined ``room_id`` from (the real-time layer calls this)."""
    if guest_id and address_key:
        await caches["ephemeral"].aset(
            _guest_address_cache_key(room_id, guest_id), address_key, GUEST_ADDRESS_SECONDS
        )


def remembered_guest_address(room: Room, guest_id: str) -> str:
    """The address key ``guest_id`` last joined ``room`` from, if the room still knows it."""
    found = caches["ephemeral"].get(_guest_address_cache_key(room.pk, guest_id))
    return found if isinstance(found, str) else ""


def _ban_subject(user_id: int | None, guest_id: str) -> Q:
    if user_id is not None:
        return Q(user_id=user_id)
    if not guest_id:
        raise InvalidArgumentError("Name a user or a guest id.")
    return Q(user__isnull=True, guest_id=guest_id)


def _unexpired() -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())


def active_bans(room: Room) -> QuerySet[RoomBan]:
    """The bans of ``room`` still in force, newest first."""
    return (
        room.bans.filter(_unexpired())
        .select_related("user", "banned_by")
        .order_by("-created_at", "-id")
    )


def active_ban(
    room: Room, *, user_id: int | None = None, guest_id: str = "", address_key: str = ""
) -> RoomBan | None:
    """The ban in force on this user, if any; for a guest, on this guest id or on a guest of
    the same address (``address_key``): a new guest from there is the same guest."""
    if user_id is None and not guest_id:
        return None
    subject = _ban_subject(user_id, guest_id)
    if user_id is None and address_key:
        subject |= Q(user__isnull=True, address_key=address_key)
    return room.bans.filter(subject, _unexpired()).first()


def check_not_banned(room: Room, *, user_id: int | None = None, guest_id: str = "") -> None:
    """Raise BannedError (with ``until``) if a ban is in force; expired bans do not count."""
    ban = active_ban(room, user_id=user_id, guest_id=guest_id)
    if ban is not None:
        raise BannedError(until=ban.expires_at)


def _target(target_user: User | None, guest_id: str, guest_name: str = "") -> rules.Actor:
    if (target_user is None) == (not guest_id):
        raise InvalidArgumentError("Name either a user or a guest id.")
    if target_user is not None:
        return actor_for_user(target_user)
    return guest_actor(guest_id, guest_name)


def check_can_moderate_room(who: ActorLike, room: Room) -> None:
    """Raise RoomForbiddenError unless ``who`` owns ``room`` or is a site moderator."""
    if not rules.can_moderate(_as_actor(who), room_view(room)):
        raise RoomForbiddenError()


def resolve_ban_subject(subject: str) -> tuple[User | None, str]:
    """``guest:<id>`` → (None, guest id); a username → (user, ""); BanNotFoundError if unknown."""
    if subject.startswith("guest:"):
        guest_id = subject.removeprefix("guest:")
        if not guest_id:
            raise BanNotFoundError()
        return None, guest_id
    user = User.objects.filter(username=subject).first()
    if user is None:
        raise BanNotFoundError()
    return user, ""


def check_can_moderate_member(who: ActorLike, room: Room, target: rules.Actor) -> None:
    """Raise RoomForbiddenError unless ``who`` may kick/ban/mute ``target`` in ``room``.

    Never oneself, and only players of lower rank (member < owner < moderator < admin).
    """
    actor = _as_actor(who)
    view = room_view(room)
    if not rules.can_moderate(actor, view):
        raise RoomForbiddenError()
    if not rules.can_moderate_member(actor, target, view):
        raise RoomForbiddenError("You cannot do that to this player.")


def check_can_ban(
    who: ActorLike, room: Room, *, target_user: User | None = None, guest_id: str = ""
) -> None:
    """Raise unless ``who`` may ban this user or guest from ``room``."""
    check_can_moderate_member(who, room, _target(target_user, guest_id))


def _expiry(duration_seconds: int | None) -> datetime | None:
    if duration_seconds is None:
        return None
    if (
        isinstance(duration_seconds, bool)
        or not isinstance(duration_seconds, int)
        or not 1 <= duration_seconds <= MAX_BAN_SECONDS
    ):
        raise InvalidArgumentError(
            f"duration_seconds must be between 1 and {MAX_BAN_SECONDS}, or null for permanent."
        )
    return timezone.now() + timedelta(seconds=duration_seconds)


def ban_from_room(
    who: ActorLike,
    room: Room,
    *,
    target_user: User | None = None,
    guest_id: str = "",
    guest_name: str = "",
    guest_address_key: str = "",
    duration_seconds: int | None = None,
    reason: str = "",
    source: str,
) -> RoomBan:
    """Ban a user (or a guest id) from ``room`` for ``duration_seconds`` (None: for good).

    A guest's ban also holds for its address when it is known (``guest_address_key``, from
    the real-time layer), so the guest cannot shed it by reconnecting as a new guest.
    Banning someone already banned replaces the ban's expiry and reason. Records BAN.
    """
    actor = _as_actor(who)
    _check_source(source)
    target = _target(target_user, guest_id, guest_name)
    check_can_moderate_member(actor, room, target)
    reason = _clean_reason(reason)
    expires_at = _expiry(duration_seconds)
    _check_heir_sanction(actor, room, target, "ban", duration_seconds)
    # Replacing a ban is lifting it and banning again: rank applies to both.
    in_force = active_ban(room, user_id=target.user_id, guest_id=guest_id)
    _check_may_replace(actor, room, in_force.banned_by if in_force else None, "ban")
    defaults = {"banned_by_id": actor.user_id, "reason": reason, "expires_at": expires_at}
    with transaction.atomic():
        if target_user is not None:
            ban, _ = RoomBan.objects.update_or_create(
                room=room, user=target_user, defaults=defaults
            )
        else:
            address_key = guest_address_key or remembered_guest_address(room, guest_id)
            ban, _ = RoomBan.objects.update_or_create(
                room=room,
                user=None,
                guest_id=guest_id,
                defaults={**defaults, "address_key": address_key},
            )
        record_moderation(
            actor,
            Action.BAN,
            source,
            room=room,
            target_user=target_user,
            target_name=target.name or guest_id,
            reason=reason,
            expires_at=expires_at,
        )
    signals.send_on_commit(
        signals.member_banned,
        room=room,
        user_id=target.user_id,
        guest_id=guest_id,
        expires_at=expires_at,
        reason=reason,
    )
    return ban


def unban_from_room(
    who: ActorLike,
    room: Room,
    *,
    target_user: User | None = None,
    guest_id: str = "",
    reason: str = "",
    source: str,
) -> None:
    """Lift the ban on a user (or guest id) in ``room``; BanNotFoundError if none is in force.

    Records UNBAN.
    """
    actor = _as_actor(who)
    _check_source(source)
    target = _target(target_user, guest_id)
    # Lifting a ban respects rank as setting one does: never one's own ban, only a player of
    # lower rank, and only a ban set by someone who does not outrank the one lifting it.
    check_can_moderate_member(actor, room, target)
    reason = _clean_reason(reason)
    bans = room.bans.filter(_ban_subject(target.user_id, guest_id))
    in_force = bans.filter(_unexpired()).select_related("banned_by").first()
    if in_force is None:
        bans.delete()  # expired leftovers
        raise BanNotFoundError()
    _check_may_replace(actor, room, in_force.banned_by, "ban")
    with transaction.atomic():
        bans.delete()
        record_moderation(
            actor,
            Action.UNBAN,
            source,
            room=room,
            target_user=target_user,
            target_name=target.name or guest_id,
            reason=reason,
        )


def _check_heir_sanction(
    actor: rules.Actor,
    room: Room,
    target: rules.Actor,
    what: str,
    duration_seconds: int | None,
) -> None:
    """Raise RoomForbiddenError past what a crown holder who does not own the room may do:
    ban or mute only players in the room, for an hour at most (``rules``)."""
    if not actor.crowned:
        return
    player = str(target.user_id) if target.user_id is not None else target.guest_id
    refusal = rules.heir_sanction_refusal(
        actor,
        room_view(room),
        what=what,
        duration_seconds=duration_seconds,
        target_present=_is_present(str(room.pk), player),
    )
    if refusal is not None:
        raise RoomForbiddenError(refusal)


def _check_may_replace(actor: rules.Actor, room: Room, author: User | None, what: str) -> None:
    """Raise RoomForbiddenError if the ban or mute in force was set by ``author``, who
    outranks ``actor``: a room owner cannot lift or shorten what a site moderator set, nor a
    crown holder what the owner set."""
    if author is None:
        return
    if rules.outranks(actor_for_user(author), actor, room_view(room)):
        raise RoomForbiddenError(
            f"Someone of higher rank set this {what}; only someone of their rank can change it."
        )


# --- Presence-side moderation (the sockets carry it out) ------------------------------------


def kick_from_room(
    who: ActorLike, room: Room, target: rules.Actor, *, reason: str = "", source: str
) -> ModerationAction:
    """Check and record a kick; the real-time layer removes the target's sockets."""
    _check_source(source)
    check_can_moderate_member(who, room, target)
    return _record_on_target(who, Action.KICK, source, room, target, _clean_reason(reason))


def mute_in_room(
    who: ActorLike,
    room: Room,
    target: rules.Actor,
    *,
    duration_seconds: int | None = None,
    reason: str = "",
    source: str,
) -> ModerationAction:
    """Mute ``target`` in ``room`` (replacing any mute in force); returns the record, whose
    ``expires_at`` is when it ends (None: until lifted).

    Rank applies as for bans: a crown holder mutes only players in the room, for an hour at
    most, and nobody replaces a mute set by someone who outranks them.
    """
    actor = _as_actor(who)
    _check_source(source)
    check_can_moderate_member(actor, room, target)
    expires_at = _expiry(duration_seconds)
    reason = _clean_reason(reason)
    _check_heir_sanction(actor, room, target, "mute", duration_seconds)
    _check_may_replace_mutes(actor, room, target)
    with transaction.atomic():
        RoomMute.objects.update_or_create(
            room=room,
            **_subject_fields(target),
            defaults={
                "expires_at": expires_at,
                "address_key": target.address_key if target.is_guest else "",
                "muted_by_id": actor.user_id,
            },
        )
        return _record_on_target(actor, Action.MUTE, source, room, target, reason, expires_at)


def unmute_in_room(
    who: ActorLike, room: Room, target: rules.Actor, *, reason: str = "", source: str
) -> ModerationAction:
    """Lift ``target``'s mute in ``room`` and record it; never a mute set by someone who
    outranks ``who``."""
    actor = _as_actor(who)
    _check_source(source)
    check_can_moderate_member(actor, room, target)
    reason = _clean_reason(reason)
    _check_may_replace_mutes(actor, room, target)
    with transaction.atomic():
        _mutes_of(room, target).delete()
        return _record_on_target(actor, Action.UNMUTE, source, room, target, reason)


def _check_may_replace_mutes(actor: rules.Actor, room: Room, target: rules.Actor) -> None:
    """Rank against every mute in force on ``target``: a guest may be under several (one
    per guest id its address went through), and lifting lifts them all."""
    in_force = _mutes_of(room, target).filter(_unexpired()).select_related("muted_by")
    for mute in in_force:
        _check_may_replace(actor, room, mute.muted_by, "mute")


def _subject_fields(target: rules.Actor) -> dict[str, Any]:
    if target.user_id is not None:
        return {"user_id": target.user_id}
    if not target.guest_id:
        raise InvalidArgumentError("Name a user or a guest id.")
    return {"user__isnull": True, "guest_id": target.guest_id}


def _mutes_of(room: Room, target: rules.Actor) -> QuerySet[RoomMute]:
    """The mutes on ``target``: a guest's also by its address, as for bans."""
    mutes = RoomMute.objects.filter(room=room, **_subject_fields(target))
    if target.is_guest and target.address_key:
        mutes |= RoomMute.objects.filter(
            room=room, user__isnull=True, address_key=target.address_key
        )
    return mutes


def active_mute(room: Room, target: rules.Actor) -> RoomMute | None:
    """``target``'s mute in ``room`` if one is in force (its ``expires_at`` None: until
    lifted); expired mutes do not count. A guest's mute holds for its address too."""
    return _mutes_of(room, target).filter(_unexpired()).select_related("muted_by").first()


def _record_on_target(
    who: ActorLike,
    action: str,
    source: str,
    room: Room,
    target: rules.Actor,
    reason: str,
    expires_at: datetime | None = None,
) -> ModerationAction:
    return record_moderation(
        who,
        action,
        source,
        room=room,
        target_user_id=target.user_id,
        target_name=target.name or target.guest_id,
        reason=reason,
        expires_at=expires_at,
    )


def give_ownership(
    who: ActorLike, room: Room, target_user: User, *, source: str, reason: str = ""
) -> Room:
    """The owner (or a site moderator) hands ``room`` to a registered player: the only way,
    besides an admin, that a room's stored owner changes (``rules``, "Ownership").

    Lobbies have no owner (LobbyProtectedError). Records GIVE_OWNERSHIP.
    """
    actor = _as_actor(who)
    _check_source(source)
    if room.is_lobby:
        raise LobbyProtectedError()
    if not rules.can_update_room(actor, room_view(room)):
        raise RoomForbiddenError("Only the room's owner or a moderator may give it away.")
    if target_user.is_site_banned or not target_user.is_active:
        raise InvalidArgumentError("That player cannot own a room.")
    reason = _clean_reason(reason)
    with transaction.atomic():
        _lock_account(target_user)
        try:
            check_room_allowance(target_user)
        except RoomLimitReachedError as exc:
            raise RoomLimitReachedError(
                f"{target_user.username} owns as many rooms as an account may."
            ) from exc
        room.owner = target_user
        room.save(update_fields=["owner", "updated_at"])
        record_moderation(
            actor,
            Action.GIVE_OWNERSHIP,
            source,
            room=room,
            target_user=target_user,
            reason=reason,
        )
    signals.send_on_commit(signals.owner_changed, room=room, owner_user_id=target_user.pk)
    return room


# --- The audit log --------------------------------------------------------------------------


def record_moderation(
    who: ActorLike,
    action: str,
    source: str,
    *,
    room: Room | None = None,
    target_user: User | None = None,
    target_user_id: int | None = None,
    target_name: str = "",
    reason: str = "",
    expires_at: datetime | None = None,
) -> ModerationAction:
    """Write one audit-log entry for an act of ``who`` (through ``moderation.records``)."""
    actor = _as_actor(who)
    if target_user is not None:
        target_user_id = target_user.pk
        target_name = target_name or target_user.username
    return records.record(
        action,
        source,
        actor_id=actor.user_id,
        actor_name=actor.name or actor.guest_id or "unknown",
        target_user_id=target_user_id,
        target_name=target_name,
        room_id=room.pk if room is not None else None,
        room_name=room.name if room is not None else "",
        reason=_clean_reason(reason),
        expires_at=expires_at,
    )


# --- Chat -------------------------------------------------------------------------------------


def post_chat_message(
    room: Room,
    author: ActorLike,
    text: str,
    *,
    session_id: str = "",
    muted: bool = False,
) -> ChatMessage:
    """Store a chat message after the room's rules and the text's limits allow it.

    Raises MutedError, ChatDisabledError, RoomForbiddenError (owner-only chat) or
    InvalidChatMessageError (empty, over 500 characters, control or bidi characters).
    The text is stripped and stored as data. Rate limits are the sockets' business.
    """
    actor = _as_actor(author)
    refusal = rules.chat_refusal(actor, room_view(room), muted=muted)
    if refusal == "MUTED":
        raise MutedError()
    if refusal == "CHAT_DISABLED":
        raise ChatDisabledError()
    if refusal is not None:
        raise RoomForbiddenError("Only the room owner may chat here.")
    try:
        cleaned = rules.clean_chat_text(text)
    except ValueError as exc:
        raise InvalidChatMessageError(str(exc)) from exc
    return ChatMessage.objects.create(
        room=room,
        user_id=actor.user_id,
        guest_id=actor.guest_id if actor.is_guest else "",
        session_id=session_id[:64],
        display_name=(actor.name or "Guest")[:64],
        text=cleaned,
    )


def recent_messages(room: Room, limit: int = RECENT_CHAT_LIMIT) -> list[ChatMessage]:
    """The last ``limit`` messages of ``room``, oldest first (as ``room_state`` sends them)."""
    newest = list(room.messages.select_related("user").order_by("-id")[:limit])
    newest.reverse()
    return newest


def delete_chat_messages(
    who: ActorLike, messages: Iterable[ChatMessage], *, source: str, reason: str = ""
) -> int:
    """Delete messages (owner or site moderator of each room); one DELETE_MESSAGE per room.

    Returns how many were deleted.
    """
    actor = _as_actor(who)
    _check_source(source)
    reason = _clean_reason(reason)
    by_room: dict[uuid.UUID, list[ChatMessage]] = {}
    rooms: dict[uuid.UUID, Room] = {}
    for message in messages:
        by_room.setdefault(message.room_id, []).append(message)
        rooms[message.room_id] = message.room
    for room in rooms.values():
        if not rules.can_moderate(actor, room_view(room)):
            raise RoomForbiddenError()
    deleted = 0
    with transaction.atomic():
        for room_id, batch in by_room.items():
            ids = [m.pk for m in batch]
            authors = {m.user_id for m in batch}
            names = sorted({m.display_name for m in batch})
            deleted += ChatMessage.objects.filter(pk__in=ids).delete()[0]
            record_moderation(
                actor,
                Action.DELETE_MESSAGE,
                source,
                room=rooms[room_id],
                target_user_id=authors.pop() if len(authors) == 1 else None,
                target_name=", ".join(names),
                reason=reason or f"Deleted {len(ids)} message(s).",
            )
            signals.send_on_commit(signals.chat_messages_deleted, room_id=room_id, message_ids=ids)
    return deleted


# --- Lobbies ---------------------------------------------------------------------------------


def _create_lobby(number: int) -> Room:
    name = rules.lobby_name(number)
    try:
        with transaction.atomic():
            return Room.objects.create(
                name=name,
                is_lobby=True,
                is_public=True,
                max_members=rules.LOBBY_MAX_MEMBERS,
                # Overflow lobbies go away once empty; the first one always stays.
                persistent=number == 1,
            )
    except IntegrityError:
        # Another process made it first.
        return Room.objects.get(name__iexact=name)


def _lobbies() -> Sequence[Room]:
    numbered = [(rules.lobby_number(r.name), r) for r in Room.objects.filter(is_lobby=True)]
    ordered = sorted(((n, r) for n, r in numbered if n is not None), key=lambda pair: pair[0])
    return [room for _, room in ordered]


def ensure_lobby() -> Room:
    """The main lobby, created if it is missing."""
    lobby = Room.objects.filter(is_lobby=True, name__iexact=rules.LOBBY_NAME).first()
    return lobby or _create_lobby(1)


def lobby_with_space(count_for_room: Callable[[Room], int]) -> Room:
    """The first lobby with room for one more, making ``lobby-2``, ``lobby-3``... as needed.

    ``count_for_room`` gives a lobby's live member count (presence).
    """
    lobbies = _lobbies() or [ensure_lobby()]
    for lobby in lobbies:
        if count_for_room(lobby) < lobby.max_members:
            return lobby
    last = rules.lobby_number(lobbies[-1].name) or 1
    return _create_lobby(last + 1)


def delete_abandoned_room(room_id: uuid.UUID | str) -> bool:
    """Delete a room nobody is in any more, unless it is persistent or a lobby that stays.

    The real-time layer calls this a grace period after the last member left, once presence
    says the room is still empty. Returns whether a room was deleted.
    """
    try:
        room = Room.objects.get(pk=room_id)
    except (Room.DoesNotExist, ValidationError, ValueError):
        return False
    if room.persistent or (room.is_lobby and rules.lobby_number(room.name) == 1):
        return False
    room.delete()
    return True


def stale_empty_room_candidates(older_than: timedelta, limit: int = 500) -> list[str]:
    """Ids of non-persistent rooms unchanged for ``older_than``: rooms made and never used,
    or left empty across a restart. The real-time layer deletes those presence says are empty.
    """
    cutoff = timezone.now() - older_than
    stale = Room.objects.filter(persistent=False, updated_at__lt=cutoff)
    return [str(pk) for pk in stale.values_list("pk", flat=True)[:limit]]
