"""Who is on the other end of a socket: an account or a guest."""

from __future__ import annotations

import colorsys
import functools
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings

from observability.access import client_network
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

#: How much darker than white (WCAG contrast ratio) a guest's colour must be, so a key lit
#: in it stands out on an ivory key. Each colour is made just that dark and no darker, so it
#: also reads on the page's dark background (about 4:1 against it).
GUEST_MIN_CONTRAST = 3.8
_GUEST_SATURATION = 0.75
_GUEST_MAX_LIGHTNESS = 0.8

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


def _relative_luminance(rgb: tuple[float, float, float]) -> float:
    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_with_white(color: str) -> float:
    """The WCAG contrast ratio of ``#rrggbb`` against white (1 to 21)."""
    rgb = tuple(int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 1.05 / (_relative_luminance((rgb[0], rgb[1], rgb[2])) + 0.05)


@functools.lru_cache(maxsize=4096)  # a search of up to 80 steps; the same guest reconnects
def guest_color(guest_id: str) -> str:
    """A guest's own colour, the same for its id every time (docs/protocol.md, "UserInfo"):
    a hue from a hash of the id at a fixed saturation, at the highest lightness that keeps
    ``GUEST_MIN_CONTRAST`` against white keys (yellows end up darker than blues), so every
    guest's colour is about as easy to see as any other's."""
    digest = hashlib.sha256(f"guest-colour:{guest_id}".encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360 / 360
    for step in range(int(_GUEST_MAX_LIGHTNESS * 100), 0, -1):
        rgb = colorsys.hls_to_rgb(hue, step / 100, _GUEST_SATURATION)
        color = "#" + "".join(f"{round(c * 255):02x}" for c in rgb)
        if contrast_with_white(color) >= GUEST_MIN_CONTRAST:
            return color
    return color


def guest_identity(guest_id: str, session_key: str = "", address_key: str = "") -> Identity:
    """A guest named ``Guest-xxxx`` after the last four characters of its id."""
    name = f"Guest-{guest_id[-4:]}"
    return Identity(
        user_id=guest_id,
        username=name,
        display_name=name,
        color=guest_color(guest_id),
        role="GUEST",
        session_key=session_key,
        address_key=address_key,
    )
