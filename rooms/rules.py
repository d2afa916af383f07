"""Room rules as pure functions: no Django, no I/O (docs/protocol.md, Ownership and the crown;
docs/security.md).

Services and the real-time layer feed these small value objects built from models or from
presence, so the same rule decides over REST, in the admin and on a socket.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from rooms.room_settings import (
    BOOLEAN_SETTINGS,
    MAX_MEMBERS,
    MIN_MEMBERS,
    PASSWORD_MAX_LENGTH,
    ROOM_SETTINGS,
    SETTINGS_BY_NAME,
    WELCOME_MAX_LENGTH,
)
from users.rules import name_skeleton

LOBBY_MAX_MEMBERS = 30
NAME_MAX_LENGTH = 64
CHAT_MAX_LENGTH = 500

LOBBY_NAME = "lobby"
_LOBBY_NAME_RE = re.compile(r"lobby(?:-[0-9]+)?", re.IGNORECASE)
# What a lobby's name looks like (its skeleton: "lobby-10" is "lobbylo"): "lobby" and
# digit-looking characters.
_LOBBY_SKELETON_RE = re.compile(r"lobby[0-9los]*")
_COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")

# The settings (rooms.room_settings) plus the room name, which travels beside them.
SETTINGS_FIELDS = frozenset({"name", *SETTINGS_BY_NAME})

# Bidirectional overrides and isolates: they let text display as something it is not.
BIDI_CHARACTERS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Invisible characters that make two names look identical. ZWJ/ZWNJ stay allowed in chat,
# where emoji sequences and some scripts need them, but not in names.
ZERO_WIDTH_CHARACTERS = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e")
_CHAT_FORBIDDEN_INVISIBLE = frozenset("\u200b\u2060\ufeff\u180e")


class Role:
    """The protocol's Role values (mirrors ``users.models.User.Role`` without importing it)."""

    GUEST = "GUEST"
    MEMBER = "MEMBER"
    MODERATOR = "MODERATOR"
    ADMIN = "ADMIN"


SITE_MODERATOR_ROLES = frozenset({Role.MODERATOR, Role.ADMIN})


@dataclass(frozen=True)
class Actor:
    """Who is acting: a registered user (``user_id``) or a guest (``guest_id``).

    ``crowned``: this player holds the room's crown now, in the owner's absence (see
    "Ownership" below). Only the real-time layer, which knows who is in the room, sets it;
    over REST and in the admin nobody holds a crown.
    """

    user_id: int | None
    role: str = Role.MEMBER
    guest_id: str = ""
    name: str = ""
    crowned: bool = False
    #: A private key of the address a live player connects from (the real-time layer's):
    #: password guesses count per address, and a guest's ban or mute holds for the address,
    #: so that a guest cannot shed them by reconnecting as a new guest.
    address_key: str = ""

    @property
    def is_guest(self) -> bool:
        return self.user_id is None

    @property
    def is_site_moderator(self) -> bool:
        return not self.is_guest and self.role in SITE_MODERATOR_ROLES

    def same_identity(self, other: Actor) -> bool:
        if self.user_id is not None or other.user_id is not None:
            return self.user_id == other.user_id
        return bool(self.guest_id) and self.guest_id == other.guest_id


@dataclass(frozen=True)
class RoomView:
    """The parts of a room the rules look at. ``owner_user_id`` is the room's owner, the
    account that created it or was given it (None for lobbies and rooms whose owner's account
    is gone)."""

    owner_user_id: int | None = None
    is_lobby: bool = False
    is_public: bool = True
    allow_guests: bool = True
    chat_enabled: bool = True
    only_owner_can_play: bool = False
    only_owner_can_chat: bool = False
    has_password: bool = False
    max_members: int = 20


_VIEW_FIELDS = frozenset(field.name for field in fields(RoomView))
#: The room settings the rules look at: those among RoomView's fields. A room's or a
#: snapshot's view fills them by name (``services.room_view``, ``RoomSnapshot.view``), so a
#: new setting a rule needs is one more field above.
VIEWED_SETTINGS = tuple(s for s in ROOM_SETTINGS if s.name in _VIEW_FIELDS)


@dataclass(frozen=True)
class Candidate:
    """A member who could inherit a room; ``joined_at`` orders by time present."""

    user_id: int | None
    guest_id: str
    joined_at: float

    @property
    def is_guest(self) -> bool:
        return self.user_id is None


# --- Permissions ------------------------------------------------------------------------
#
# Ownership. A room's owner is stored and changes only by an explicit transfer (the owner or a
# site moderator gives it to another account). The crown is live: whoever holds it has the
# owner's powers in the room. The owner holds it whenever they are in the room; while they
# are away it passes to the longest-present registered member (else guest), and the owner
# takes it back on return. A crowned heir may moderate players below them, but not the
# owner, and may not change, close or give away a room that has an owner.


def is_room_owner(actor: Actor, room: RoomView) -> bool:
    """The stored owner, in the room or not."""
    return actor.user_id is not None and actor.user_id == room.owner_user_id


def is_owner(actor: Actor, room: RoomView) -> bool:
    """Whether ``actor`` has the owner's powers in the room: its owner, or the crown holder."""
    return is_room_owner(actor, room) or (actor.crowned and not room.is_lobby)


def can_moderate(actor: Actor, room: RoomView) -> bool:
    """The owner, the crown holder and site moderators/admins may moderate; lobbies have no
    owner."""
    return actor.is_site_moderator or is_owner(actor, room)


def can_update_room(actor: Actor, room: RoomView) -> bool:
    """Settings, closing and giving the room away: its owner and site moderators; the crown
    holder only of a room with no owner."""
    if actor.is_site_moderator or is_room_owner(actor, room):
        return True
    return actor.crowned and not room.is_lobby and room.owner_user_id is None


def can_close_room(actor: Actor, room: RoomView) -> bool:
    """Whoever may change the room may close it, except that the lobbies are never closed."""
    return not room.is_lobby and can_update_room(actor, room)


def can_see_room(actor: Actor, room: RoomView) -> bool:
    """Private rooms are invisible (over REST) to all but their owner and site moderators."""
    return room.is_public or room.is_lobby or can_moderate(actor, room)


def can_read_history(actor: Actor, room: RoomView, *, present: bool, banned: bool) -> bool:
    """Who may read a room's chat history and welcome message from outside it (REST).

    A password room keeps them for those it let in: the owner, site moderators and whoever
    is in the room now (``present``) and not banned. Other rooms show them to anyone who
    may see the room.
    """
    if not can_see_room(actor, room):
        return False
    if not room.has_password or can_moderate(actor, room):
        return True
    return present and not banned


def rank_in_room(actor: Actor, room: RoomView) -> int:
    """Higher ranks may moderate lower ones:
    member/guest < crown holder < owner < moderator < admin."""
    if actor.is_site_moderator:
        return 4 if actor.role == Role.ADMIN else 3
    if is_room_owner(actor, room):
        return 2
    return 1 if is_owner(actor, room) else 0


#: The longest ban or mute whoever holds the crown in the owner's absence may give.
HEIR_MAX_SANCTION_SECONDS = 3600


def heir_sanction_refusal(
    actor: Actor,
    room: RoomView,
    *,
    what: str,
    duration_seconds: int | None,
    target_present: bool,
) -> str | None:
    """Why a crown holder who does not own the room may not give this ban or mute (``what``
    names it in the message), or None.

    The crown passes to whoever stayed longest, a guest even: they keep order in the room
    (ban or mute a player in it, for up to an hour) but cannot silence or shut accounts out
    of someone else's room for good, nor reach players who are not there.
    """
    if actor.is_site_moderator or is_room_owner(actor, room):
        return None
    if not target_present:
        return f"Whoever holds the crown may {what} only players who are in the room."
    if duration_seconds is None or duration_seconds > HEIR_MAX_SANCTION_SECONDS:
        return f"Whoever holds the crown may {what} for an hour at most."
    return None


def outranks(author: Actor, actor: Actor, room: RoomView) -> bool:
    """Whether a ban or mute ``author`` set is out of ``actor``'s reach: lifting or replacing
    one respects rank as setting it does."""
    return rank_in_room(author, room) > rank_in_room(actor, room)


def can_moderate_member(actor: Actor, target: Actor, room: RoomView) -> bool:
    """Kick/ban/mute ``target``: never oneself, and only someone of lower rank."""
    if not can_moderate(actor, room) or actor.same_identity(target):
        return False
    return rank_in_room(actor, room) > rank_in_room(target, room)


def play_refusal(actor: Actor, room: RoomView, *, muted: bool = False) -> str | None:
    """The ErrorCode refusing ``actor`` to play in ``room``, or None if they may."""
    if muted:
        return "MUTED"
    if room.only_owner_can_play and not can_moderate(actor, room):
        return "FORBIDDEN"
    return None


def chat_refusal(actor: Actor, room: RoomView, *, muted: bool = False) -> str | None:
    """The ErrorCode refusing ``actor`` to chat in ``room``, or None if they may.

    Disabled chat and owner-only chat leave the owner and site moderators able to speak,
    so they can still announce things in a quiet room.
    """
    if muted:
        return "MUTED"
    if can_moderate(actor, room):
        return None
    if not room.chat_enabled:
        return "CHAT_DISABLED"
    if room.only_owner_can_chat:
        return "FORBIDDEN"
    return None


def join_refusal(actor: Actor, room: RoomView, *, member_count: int, banned: bool) -> str | None:
    """The ErrorCode refusing entry before any password is looked at, or None."""
    if banned:
        return "BANNED"
    if actor.is_guest and not room.allow_guests:
        return "GUESTS_NOT_ALLOWED"
    if member_count >= room.max_members:
        return "ROOM_FULL"
    return None


def needs_password(actor: Actor, room: RoomView) -> bool:
    """Owners and site moderators walk into their password rooms without one."""
    return room.has_password and not can_moderate(actor, room)


# --- Settings validation -----------------------------------------------------------------


class RoomSettingsInvalidError(ValueError):
    """Raised with one message per offending field; services wrap it in a domain error."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)
        super().__init__("; ".join(f"{name}: {msg}" for name, msg in self.fields.items()))


def lobby_name(n: int) -> str:
    """1 → ``lobby``, n → ``lobby-n``."""
    if n < 1:
        raise ValueError("Lobbies are numbered from 1.")
    return LOBBY_NAME if n == 1 else f"{LOBBY_NAME}-{n}"


def is_lobby_name(name: str) -> bool:
    """Names reserved for lobbies: ``lobby`` and ``lobby-<digits>``, in any case."""
    return bool(_LOBBY_NAME_RE.fullmatch(name))


def lobby_number(name: str) -> int | None:
    """The overflow number of a lobby name (``lobby`` is 1), or None."""
    if not is_lobby_name(name):
        return None
    _, _, digits = name.partition("-")
    return int(digits) if digits else 1


def _has_control(text: str, *, allow_newlines: bool = False) -> bool:
    for char in text:
        if allow_newlines and char == "\n":
            continue
        if unicodedata.category(char) in ("Cc", "Cs") or char in BIDI_CHARACTERS:
            return True
    return False


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid room name, or None."""
    if not name:
        return "Give the room a name."
    if len(name) > NAME_MAX_LENGTH:
        return f"At most {NAME_MAX_LENGTH} characters."
    if name != name.strip():
        return "The name cannot start or end with spaces."
    if any(char in BIDI_CHARACTERS or char in ZERO_WIDTH_CHARACTERS for char in name):
        return "The name contains invisible or direction-changing characters."
    # isprintable() refuses control, format and non-ASCII space characters.
    if not name.isprintable():
        return "The name contains characters that cannot be displayed."
    return None


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("Must be true or false.")
    return value


def validate_room_settings(changes: Mapping[str, Any], *, is_lobby: bool = False) -> dict[str, Any]:
    """Check and normalise RoomSettings changes (and ``name``); raise RoomSettingsInvalidError.

    Only the given keys are checked, so this serves both creation and partial updates.
    ``password`` "" means "clear the password". Lobbies keep their name, stay public and
    persistent, have no password and hold at most LOBBY_MAX_MEMBERS.
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in sorted(set(changes) - SETTINGS_FIELDS):
        errors[key] = "Unknown setting."

    for key, value in changes.items():
        if key not in SETTINGS_FIELDS:
            continue
        try:
            cleaned[key] = _clean_setting(key, value, is_lobby=is_lobby)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise RoomSettingsInvalidError(errors)
    return cleaned


def _clean_setting(key: str, value: Any, *, is_lobby: bool) -> Any:
    if key in BOOLEAN_SETTINGS:
        return _clean_flag(key, value, is_lobby)
    rule = _SETTING_RULES.get(key)
    if rule is None:
        # On/off settings need no rule of their own; what text or number a new setting takes
        # does (tests/rooms/test_room_settings.py checks that every setting has one).
        raise NotImplementedError(f"No rule checks the room setting {key!r}.")
    if key != "max_members" and not isinstance(value, str):
        raise ValueError("Must be text.")
    return rule(value, is_lobby)


def _clean_flag(key: str, value: Any, is_lobby: bool) -> bool:
    flag = _bool(value)
    if is_lobby and key in ("is_public", "persistent") and not flag:
        raise ValueError("Lobbies are always public and persistent.")
    return flag


def _clean_max_members(value: Any, is_lobby: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Must be a whole number.")
    top = LOBBY_MAX_MEMBERS if is_lobby else MAX_MEMBERS
    if not MIN_MEMBERS <= value <= top:
        raise ValueError(f"Must be between {MIN_MEMBERS} and {top}.")
    return value


def _clean_name(value: str, is_lobby: bool) -> str:
    if is_lobby:
        raise ValueError("Lobbies cannot be renamed.")
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    # Also as it looks: a Cyrillic o, a full-width "lobby", "l0bby 2" or "lobby─2" (a
    # symbol or what looks like a dash is dropped) passes for one (docs/security.md).
    if is_lobby_name(value) or _LOBBY_SKELETON_RE.fullmatch(name_skeleton(value)):
        raise ValueError("Names like 'lobby' and 'lobby-2' are reserved for lobbies.")
    return value


def _clean_welcome_message(value: str, is_lobby: bool) -> str:
    if len(value) > WELCOME_MAX_LENGTH:
        raise ValueError(f"At most {WELCOME_MAX_LENGTH} characters.")
    if _has_control(value, allow_newlines=True):
        raise ValueError("The message contains control or direction-changing characters.")
    return value.strip()


def _clean_color(value: str, is_lobby: bool) -> str:
    if not _COLOR_RE.fullmatch(value):
        raise ValueError("Use a colour like #1a2b3c.")
    return value.lower()


def _clean_password(value: str, is_lobby: bool) -> str:
    if len(value) > PASSWORD_MAX_LENGTH:
        raise ValueError(f"At most {PASSWORD_MAX_LENGTH} characters.")
    if is_lobby and value:
        raise ValueError("Lobbies cannot have a password.")
    return value


#: The rule of each setting that is not a plain on/off flag: ``(value, is_lobby)`` to the
#: cleaned value, or ValueError saying what is wrong.
_SETTING_RULES: dict[str, Callable[[Any, bool], Any]] = {
    "max_members": _clean_max_members,
    "name": _clean_name,
    "welcome_message": _clean_welcome_message,
    "color": _clean_color,
    "password": _clean_password,
}


# --- Chat -----------------------------------------------------------------------------------


# Input longer than this many times the limit is refused before any per-character work, so a
# 1 MiB string costs nothing; generous, so that text which only shrinks below the limit once
# invisible characters are removed is judged on its result.
_RAW_CHAT_FACTOR = 4
# Joiners are invisible but meaningful: ZWJ builds emoji sequences (family, profession) and
# ZWNJ is part of Persian and Indic spelling. Chat keeps them.
_JOINERS = frozenset("\u200c\u200d")
_DROP_JOINERS = {ord(char): None for char in _JOINERS}
# Emoji tag characters spell subdivision flags (England, Scotland, Wales).
_EMOJI_TAGS = range(0xE0020, 0xE0080)


def clean_chat_text(text: str) -> str:
    """The chat line to store and broadcast; ValueError saying why not.

    Invisible format characters that carry nothing are removed first: zero-width space
    U+200B, word joiner U+2060, BOM U+FEFF, soft hyphen U+00AD and the other Unicode format
    characters, except ZWJ/ZWNJ, emoji tag characters and the bidirectional controls, which
    are judged next. A line of nothing but joiners and spaces is empty. Then the text is
    stripped and must be 1 to 500 characters with no control or bidi characters (they
    disguise messages). Markup is kept verbatim: text is data, rendered as text by clients.
    """
    if not isinstance(text, str):
        raise ValueError("The message must be text.")
    if len(text) > CHAT_MAX_LENGTH * _RAW_CHAT_FACTOR:
        raise ValueError(f"Messages are at most {CHAT_MAX_LENGTH} characters.")
    if not text.isascii():
        text = _strip_invisible(text)
        if not text.translate(_DROP_JOINERS).strip():
            text = ""
    text = text.strip()
    if not text:
        raise ValueError("The message is empty.")
    if len(text) > CHAT_MAX_LENGTH:
        raise ValueError(f"Messages are at most {CHAT_MAX_LENGTH} characters.")
    if _has_control(text) or any(char in _CHAT_FORBIDDEN_INVISIBLE for char in text):
        raise ValueError("The message contains control, invisible or direction characters.")
    return text


def _strip_invisible(text: str) -> str:
    return "".join(
        char
        for char in text
        if unicodedata.category(char) != "Cf"
        or char in _JOINERS
        or char in BIDI_CHARACTERS
        or ord(char) in _EMOJI_TAGS
    )


# --- Ownership ------------------------------------------------------------------------------


def next_owner(members: Iterable[Candidate]) -> Candidate | None:
    """Who inherits a room: the longest-present registered member, else the longest guest."""
    ordered: Sequence[Candidate] = sorted(members, key=lambda m: (m.is_guest, m.joined_at))
    return ordered[0] if ordered else None


def crown_holder(room: RoomView, present: Sequence[Candidate]) -> Candidate | None:
    """Who holds the crown of a room with ``present`` members: its owner if among them,
    else the heir ``next_owner`` picks; None for lobbies and empty rooms."""
    if room.is_lobby:
        return None
    for candidate in present:
        if candidate.user_id is not None and candidate.user_id == room.owner_user_id:
            return candidate
    return next_owner(present)
