"""Plain snapshots of rooms and builders of the protocol's server messages.

A ``RoomSnapshot`` is what a process keeps of a room while it has members there: the settings
the hot path checks, with no database behind it. Builders turn snapshots, presence records and
stored chat lines into protocol messages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from realtime.codec import EncodedMessage, Encoding
from realtime.identity import Identity
from realtime.presence import MemberRecord
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from rooms import rules
from rooms.models import ChatMessage, Room
from rooms.room_settings import READABLE_SETTINGS

_ROLES = {"GUEST": pb.ROLE_GUEST, "MEMBER": pb.ROLE_MEMBER, "MODERATOR": pb.ROLE_MODERATOR}
_ROLES["ADMIN"] = pb.ROLE_ADMIN


def now_ms() -> float:
    return time.time() * 1000.0


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """A room's identity and settings as of its last change, and who holds its crown."""

    id: str
    name: str
    is_lobby: bool
    has_password: bool
    settings: dict[str, Any] = field(default_factory=dict)
    #: The room's stored owner (an account id as a string; "" for none).
    owner_user_id: str = ""
    #: Who holds the crown now (an account or guest id; "" for none): see rooms.rules.
    crown: str = ""
    _view: rules.RoomView | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, room: Room, crown: str = "") -> RoomSnapshot:
        return cls(
            id=str(room.pk),
            name=room.name,
            is_lobby=room.is_lobby,
            has_password=room.has_password,
            settings={name: getattr(room, name) for name in READABLE_SETTINGS},
            owner_user_id=str(room.owner_id) if room.owner_id is not None else "",
            crown=crown,
        )

    def with_crown(self, crown: str) -> RoomSnapshot:
        return replace(self, crown=crown)

    def with_owner(self, owner_user_id: str) -> RoomSnapshot:
        return replace(self, owner_user_id=owner_user_id)

    @property
    def max_members(self) -> int:
        return int(self.settings.get("max_members", 20))

    @property
    def persistent(self) -> bool:
        # Overflow lobbies (lobby-2, ...) are not persistent and go once empty; the main
        # lobby is, and rooms.services.delete_abandoned_room never deletes it anyway.
        return bool(self.settings.get("persistent", False))

    def view(self) -> rules.RoomView:
        """The rules' view of this room, made once per snapshot: every note batch is checked
        against it (who holds the crown is the actor's to say: ``actor_of``)."""
        view = self._view
        if view is None:
            view = self._make_view()
            object.__setattr__(self, "_view", view)
        return view

    def _make_view(self) -> rules.RoomView:
        owner = self.owner_user_id
        settings = self.settings
        return rules.RoomView(
            owner_user_id=int(owner) if owner else None,
            is_lobby=self.is_lobby,
            has_password=self.has_password,
            **{s.name: s.type(settings.get(s.name, s.default)) for s in rules.VIEWED_SETTINGS},
        )

    def to_proto(self, member_count: int) -> pb.RoomInfo:
        return pb.RoomInfo(
            id=self.id,
            name=self.name,
            settings=pb.RoomSettings(**self.settings),
            owner_user_id=self.crown,
            is_lobby=self.is_lobby,
            has_password=self.has_password,
            member_count=member_count,
            room_owner_user_id=self.owner_user_id,
        )

    def summary(self, member_count: int) -> pb.RoomSummary:
        return pb.RoomSummary(
            id=self.id,
            name=self.name,
            member_count=member_count,
            max_members=self.max_members,
            has_password=self.has_password,
            is_lobby=self.is_lobby,
            color=str(self.settings.get("color", "")),
        )


def actor_of(identity: Identity, *, crowned: bool = False) -> rules.Actor:
    if identity.account_id is not None:
        return rules.Actor(
            user_id=identity.account_id,
            role=identity.role,
            name=identity.username,
            crowned=crowned,
            address_key=identity.address_key,
        )
    return rules.Actor(
        user_id=None,
        role=rules.Role.GUEST,
        guest_id=identity.user_id,
        name=identity.username,
        crowned=crowned,
        address_key=identity.address_key,
    )


def actor_of_record(record: MemberRecord, crown: str = "") -> rules.Actor:
    """A member as the rules see them; ``crown`` is who holds the room's crown."""
    crowned = bool(crown) and record.user_id == crown
    if record.is_guest:
        return rules.Actor(
            user_id=None,
            role=rules.Role.GUEST,
            guest_id=record.user_id,
            name=record.username,
            crowned=crowned,
            address_key=record.address_key,
        )
    return rules.Actor(
        user_id=int(record.user_id), role=record.role, name=record.username, crowned=crowned
    )


def candidate_of(record: MemberRecord) -> rules.Candidate:
    if record.is_guest:
        return rules.Candidate(user_id=None, guest_id=record.user_id, joined_at=record.joined_at)
    return rules.Candidate(user_id=int(record.user_id), guest_id="", joined_at=record.joined_at)


def member_record(
    identity: Identity, session_id: str, instance_id: str, *, muted: bool = False
) -> MemberRecord:
    return MemberRecord(
        session_id=session_id,
        user_id=identity.user_id,
        username=identity.username,
        display_name=identity.display_name or identity.username,
        color=identity.color,
        role=identity.role,
        is_guest=identity.is_guest,
        instance_id=instance_id,
        joined_at=int(now_ms()),
        muted=muted,
        address_key=identity.address_key,
    )


def member(record: MemberRecord, crown: str) -> pb.Member:
    return pb.Member(
        session_id=record.session_id,
        user=pb.UserInfo(
            id=record.user_id,
            username=record.username,
            display_name=record.display_name,
            color=record.color,
            role=_ROLES.get(record.role, pb.ROLE_MEMBER),
            is_guest=record.is_guest,
        ),
        is_owner=bool(crown) and record.user_id == crown,
        muted=record.muted,
        joined_at=float(record.joined_at),
    )


def chat_line(message: ChatMessage, role: str | None = None) -> pb.ChatMessage:
    """A stored chat line as sent; ``role`` is the author's (their account's now, if not
    given: history shows who is staff today)."""
    user_id = str(message.user_id) if message.user_id is not None else message.guest_id
    if role is None:
        author = message.user if message.user_id is not None else None
        role = "GUEST" if author is None else "ADMIN" if author.is_superuser else author.role
    return pb.ChatMessage(
        id=str(message.pk),
        session_id=message.session_id,
        user_id=user_id,
        display_name=message.display_name,
        text=message.text,
        sent_at=message.sent_at.timestamp() * 1000.0,
        role=_ROLES.get(role, pb.ROLE_MEMBER),
    )


#: Room for what a frame adds around a room state (the JSON frame's wrapping and more).
_FRAME_MARGIN = 256
#: What one chat line can take at most in either encoding beyond its text and name (ids,
#: times, field names), for the quick check that a room state surely fits.
_CHAT_LINE_OVERHEAD = 256


def room_state_messages(
    encoding: Encoding,
    frame_limit: int,
    room: pb.RoomInfo,
    members: list[pb.Member],
    chat: list[pb.ChatMessage],
) -> list[EncodedMessage]:
    """The ``room_state`` for a joining player, and the chat lines that follow it.

    A room state fits in one frame by design: ``recent_chat`` holds the oldest of the recent
    lines that fit beside the room and its members, and any newer ones follow at once as
    ``chat`` messages, in order, so the player sees the same history whatever its size
    (fifty lines of 500 four-byte characters are 100 KB, more than a frame may hold).
    """
    base = EncodedMessage(server(room_state=pb.RoomState(room=room, members=members)))
    budget = frame_limit - _FRAME_MARGIN - base.size(encoding)
    upper_bound = sum(
        4 * (len(line.text) + len(line.display_name)) + _CHAT_LINE_OVERHEAD for line in chat
    )
    if upper_bound <= budget:
        fitting = len(chat)
    else:
        fitting = 0
        for line in chat:
            budget -= EncodedMessage(server(chat=line)).size(encoding)
            if budget < 0:
                break
            fitting += 1
    state = pb.RoomState(room=room, members=members, recent_chat=chat[:fitting])
    return [
        EncodedMessage(server(room_state=state)),
        *(EncodedMessage(server(chat=line)) for line in chat[fitting:]),
    ]


def server(**kind: Any) -> pb.ServerMessage:
    """``server(chat=...)``: a ServerMessage with one field of its oneof set."""
    return pb.ServerMessage(**kind)
