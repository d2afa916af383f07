"""Guest ids: who a player without an account is, across pages and sockets.

The pages give an anonymous browser a guest id in a signed cookie; the socket handshake
reads it back, so a guest stays the same ``Guest-xxxx`` (and can be moderated as one) across
reconnects. Both sides take the id's shape and the cookie from here.
"""

from __future__ import annotations

import re
import secrets

from django.core import signing

GUEST_PREFIX = "g-"
#: The signed cookie that keeps an anonymous browser the same guest across pages and
#: reconnects. A cookie, not a session: an anonymous page view writes nothing to the database.
GUEST_COOKIE = "pr_guest"
#: What every guest id the server makes looks like.
GUEST_ID_PATTERN = GUEST_PREFIX + r"[0-9a-f]{16}"
_GUEST_ID_RE = re.compile(GUEST_ID_PATTERN)


def new_guest_id() -> str:
    return GUEST_PREFIX + secrets.token_hex(8)


def is_guest_id(user_id: str) -> bool:
    return user_id.startswith(GUEST_PREFIX)


def guest_cookie_value(guest_id: str) -> str:
    """The signed value of the guest cookie for ``guest_id``."""
    return signing.get_cookie_signer(salt=GUEST_COOKIE).sign(guest_id)


def guest_id_from_cookie(value: str | None) -> str | None:
    """The guest id a guest cookie holds, or None if it is missing, forged or malformed."""
    if not value or len(value) > 128:
        return None
    try:
        guest_id = signing.get_cookie_signer(salt=GUEST_COOKIE).unsign(value)
    except signing.BadSignature:
        return None
    return guest_id if _GUEST_ID_RE.fullmatch(guest_id) else None
