"""Control events: what a change made anywhere means for the live sockets it touches.

A kick, a ban, a room's new settings or a passed crown is published to a topic through the
hub (``realtime.hub``) and applied to each subscribed socket by ``realtime.control``. In this
process an event travels as the object; between processes, through the channel layer, as its
wire form: a plain dict of its ``kind`` and fields (``to_wire``), which ``from_wire`` reads
back. The wire forms are the ones the server has always sent, so processes of the previous
release understand them during a rolling restart.

Pure: no Django, no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

logger = logging.getLogger(__name__)

Wire = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Removed:
    """A player (``user_id``; "" for everyone) is taken out of the topic's room."""

    kind: ClassVar[str] = "remove"
    #: KICKED, BANNED or ROOM_CLOSED (``realtime.control`` maps it to the protocol's reason).
    reason: str
    user_id: str
    message: str
    #: When a ban ends, in ms since the epoch (0: it does not).
    until: float = 0.0

    def to_wire(self) -> Wire:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "user_id": self.user_id,
            "message": self.message,
            "until": self.until,
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Removed:
        return cls(
            reason=str(wire["reason"]),
            user_id=str(wire.get("user_id", "")),
            message=str(wire.get("message", "")),
            until=float(wire.get("until", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class SiteBanned:
    """An account is banned from the site: every socket of it closes."""

    kind: ClassVar[str] = "site_banned"
    user_id: str
    #: When the ban ends, in ms since the epoch (0: it does not).
    until: float = 0.0

    def to_wire(self) -> Wire:
        return {"kind": self.kind, "user_id": self.user_id, "until": self.until}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> SiteBanned:
        return cls(user_id=str(wire["user_id"]), until=float(wire.get("until", 0.0)))


@dataclass(frozen=True, slots=True)
class CredentialsRevoked:
    """An account's credentials ended: all its sockets, or only those of one browser session
    (``session_key``) or one sign-in (``token_family``), close."""

    kind: ClassVar[str] = "credentials_revoked"
    user_id: str
    session_key: str = ""
    token_family: str = ""

    def to_wire(self) -> Wire:
        return {
            "kind": self.kind,
            "user_id": self.user_id,
            "session_key": self.session_key,
            "token_family": self.token_family,
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> CredentialsRevoked:
        return cls(
            user_id=str(wire["user_id"]),
            session_key=str(wire.get("session_key") or ""),
            token_family=str(wire.get("token_family") or ""),
        )


@dataclass(frozen=True, slots=True)
class IdentityChanged:
    """An account's role, name or colour changed: its sockets reload their identity."""

    kind: ClassVar[str] = "identity_changed"
    user_id: str

    def to_wire(self) -> Wire:
        return {"kind": self.kind, "user_id": self.user_id}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> IdentityChanged:
        return cls(user_id=str(wire["user_id"]))


@dataclass(frozen=True, slots=True)
class CrownPassed:
    """Who holds the topic's room's crown now, and who owns the room (rooms.rules,
    "Ownership")."""

    kind: ClassVar[str] = "owner_changed"
    #: An account or guest id; "" when the sender could not know who holds it.
    crown: str
    #: The room's stored owner (an account id; "" for none).
    owner_user_id: str

    def to_wire(self) -> Wire:
        return {"kind": self.kind, "crown": self.crown, "owner_user_id": self.owner_user_id}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> CrownPassed:
        return cls(crown=str(wire.get("crown", "")), owner_user_id=str(wire["owner_user_id"]))


@dataclass(frozen=True, slots=True)
class RoomChanged:
    """The topic's room has a new name, password or settings."""

    kind: ClassVar[str] = "room_updated"
    name: str
    has_password: bool
    #: The readable settings, as in ``RoomSnapshot.settings``.
    settings: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> Wire:
        return {
            "kind": self.kind,
            "name": self.name,
            "has_password": self.has_password,
            "settings": dict(self.settings),
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> RoomChanged:
        return cls(
            name=str(wire["name"]),
            has_password=bool(wire["has_password"]),
            settings=dict(wire["settings"]),
        )


@dataclass(frozen=True, slots=True)
class MuteChanged:
    """A player was muted or unmuted in the topic's room."""

    kind: ClassVar[str] = "muted"
    user_id: str
    muted: bool
    #: When the mute ends, in ms since the epoch (0: when lifted).
    until: float = 0.0

    def to_wire(self) -> Wire:
        return {
            "kind": self.kind,
            "user_id": self.user_id,
            "muted": self.muted,
            "until": self.until,
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> MuteChanged:
        return cls(
            user_id=str(wire["user_id"]),
            muted=bool(wire.get("muted")),
            until=float(wire.get("until") or 0.0),
        )


ControlEvent = (
    Removed
    | SiteBanned
    | CredentialsRevoked
    | IdentityChanged
    | CrownPassed
    | RoomChanged
    | MuteChanged
)

#: Every kind of control event, by its wire name.
EVENT_TYPES: dict[str, type[ControlEvent]] = {
    Removed.kind: Removed,
    SiteBanned.kind: SiteBanned,
    CredentialsRevoked.kind: CredentialsRevoked,
    IdentityChanged.kind: IdentityChanged,
    CrownPassed.kind: CrownPassed,
    RoomChanged.kind: RoomChanged,
    MuteChanged.kind: MuteChanged,
}


def from_wire(wire: Mapping[str, Any]) -> ControlEvent | None:
    """The event a wire form holds; None (logged) for a kind this release does not know."""
    event_type = EVENT_TYPES.get(str(wire.get("kind")))
    if event_type is None:
        logger.warning("ignored control event %r", wire.get("kind"))
        return None
    return event_type.from_wire(wire)
