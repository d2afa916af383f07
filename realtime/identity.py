"""Who is on the other end of a socket: an account or a guest."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings

from observability.access import client_network
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

GUEST_COLOR = "#8a8f98"

_ROLES = {
    "GUEST": pb.ROLE_GUEST,
    "MEMBER": pb.ROLE_MEMBER,
    "MODERATOR": pb.ROLE_MODERATOR,
    "ADMIN": pb.ROLE_ADMIN,
}


@dataclass(frozen=True, slots=True)
class Identity:
    """The identity a socket acts as, fixed at the handshake.

    ``user_id`` is the protocol's user id: the account's primary key as a string, or
    ``g-<hex>`` for a guest (stable for the browser session, so guests can be moderated).
    """

    user_id: str
    username: str
    display_name: str
    color: str
    role: str
    account_id: int | None = None
    #: The browser session a cookie- or session-ticket-authenticated socket belongs to.
    session_key: str = ""
    #: The sign-in (refresh-token family) a token- or ticket-authenticated socket belongs to.
    token_family: str = ""
    #: Where the socket comes from (``address_key``): limits and guests' bans hold per address.
    address_key: str = ""

    @property
    def is_guest(self) -> bool:
        return self.account_id is None

    @property
    def is_site_moderator(self) -> bool:
        return self.role in ("MODERATOR", "ADMIN")

    def with_profile(self, display_name: str | None, color: str | None) -> Identity:
        return Identity(
            user_id=self.user_id,
            username=self.username,
            display_name=self.display_name if display_name is None else display_name,
            color=self.color if color is None else color,
            role=self.role,
            account_id=self.account_id,
            session_key=self.session_key,
            token_family=self.token_family,
            address_key=self.address_key,
        )

    def to_proto(self) -> pb.UserInfo:
        return pb.UserInfo(
            id=self.user_id,
            username=self.username,
            display_name=self.display_name or self.username,
            color=self.color,
            role=_ROLES.get(self.role, pb.ROLE_MEMBER),
            is_guest=self.is_guest,
        )


def address_key(address: str) -> str:
    """A stable, private key for a client address: the address (an IPv6 address by its /64
    network, which one client usually holds whole) hashed with the secret key, so limits and
    bans can hold per address without storing addresses. "" for an unknown address."""
    network = client_network(address)
    if not network:
        return ""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"address:{network}".encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def guest_identity(guest_id: str, session_key: str = "", address_key: str = "") -> Identity:
    """A guest named ``Guest-xxxx`` after the last four characters of its id."""
    name = f"Guest-{guest_id[-4:]}"
    return Identity(
        user_id=guest_id,
        username=name,
        display_name=name,
        color=GUEST_COLOR,
        role="GUEST",
        session_key=session_key,
        address_key=address_key,
    )
