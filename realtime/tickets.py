"""Single-use, short-lived tickets that let a browser holding only a JWT open a socket.

Browsers cannot set an ``Authorization`` header on a WebSocket, so they trade their JWT
for a ticket (``POST /api/v1/realtime/tickets``) and pass it as ``?ticket=``. A ticket is
random, lives 30 seconds, and works once. Only its hash is stored, so a cache dump does
not hold usable tickets.
"""

from __future__ import annotations

import hashlib
import secrets

from django.core.cache import cache

TICKET_SECONDS = 30
_PREFIX = "realtime-ticket:"


def _key(ticket: str) -> str:
    return _PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


def issue_ticket(user_id: int) -> str:
    """A new ticket for ``user_id``, valid for one handshake within TICKET_SECONDS."""
    ticket = secrets.token_urlsafe(32)
    cache.set(_key(ticket), user_id, timeout=TICKET_SECONDS)
    return ticket


def redeem_ticket(ticket: str) -> int | None:
    """The user id a ticket was issued to, or None if it is unknown, expired or used.

    The delete is the claim: of two handshakes racing with one ticket, only the one
    whose delete removed the key gets the user.
    """
    if not ticket or len(ticket) > 128:
        return None
    key = _key(ticket)
    user_id = cache.get(key)
    if user_id is None or not cache.delete(key):
        return None
    return int(user_id)


async def aredeem_ticket(ticket: str) -> int | None:
    """``redeem_ticket`` for async callers: the cache's async API makes no thread hop
    with the Redis backend."""
    if not ticket or len(ticket) > 128:
        return None
    key = _key(ticket)
    user_id = await cache.aget(key)
    if user_id is None or not await cache.adelete(key):
        return None
    return int(user_id)
