"""Single-use, short-lived tickets that let a browser holding only a JWT open a socket.

Browsers cannot set an ``Authorization`` header on a WebSocket, so they trade their JWT
for a ticket (``POST /api/v1/realtime/tickets``) and pass it as ``?ticket=``. A ticket is
random, lives 30 seconds, and works once. Only its hash is stored, so a cache dump does
not hold usable tickets.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

TICKET_SECONDS = 30
_PREFIX = "realtime-ticket:"


@dataclass(frozen=True, slots=True)
class TicketGrant:
    """What a ticket was issued for: the account, and the credentials it was traded for, so
    that a password change or a logout in the next 30 seconds still ends it."""

    user_id: int
    #: The password stamp (``users.tokens``) at issue.
    stamp: str
    #: The sign-in of the access token it was traded for ("" for a browser session).
    token_family: str = ""
    #: The browser session it was traded for ("" for a token).
    session_key: str = ""


def _cache() -> BaseCache:
    # The ephemeral cache: anyone signed in can mint tickets, and must not be able to push
    # the limits' counters out of a cache by minting many.
    return caches["ephemeral"]


def _key(ticket: str) -> str:
    return _PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


def issue_ticket(grant: TicketGrant) -> str:
    """A new ticket for ``grant``, valid for one handshake within TICKET_SECONDS."""
    ticket = secrets.token_urlsafe(32)
    _cache().set(_key(ticket), asdict(grant), timeout=TICKET_SECONDS)
    return ticket


def _grant(stored: object) -> TicketGrant | None:
    if not isinstance(stored, dict):
        return None
    try:
        return TicketGrant(**stored)
    except TypeError:
        return None


def redeem_ticket(ticket: str) -> TicketGrant | None:
    """What a ticket was issued for, or None if it is unknown, expired or used.

    The delete is the claim: of two handshakes racing with one ticket, only the one
    whose delete removed the key gets the grant.
    """
    if not ticket or len(ticket) > 128:
        return None
    key = _key(ticket)
    cache = _cache()
    stored = cache.get(key)
    if stored is None or not cache.delete(key):
        return None
    return _grant(stored)


async def aredeem_ticket(ticket: str) -> TicketGrant | None:
    """``redeem_ticket`` for async callers: the cache's async API makes no thread hop
    with the Redis backend."""
    if not ticket or len(ticket) > 128:
        return None
    key = _key(ticket)
    cache = _cache()
    stored = await cache.aget(key)
    if stored is None or not await cache.adelete(key):
        return None
    return _grant(stored)
