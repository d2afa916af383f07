"""Handshake authentication, decided before a socket is accepted (docs/protocol.md, Connecting).

Credentials, in order: an ``Authorization: Bearer`` access JWT (bots), a ``?ticket=`` from
``POST /api/v1/realtime/tickets`` (browsers holding only a JWT), the Django session cookie
(the web client). Anything presented and invalid is refused; nothing presented makes a
guest where guests are allowed. A refusal becomes HTTP 403, never a 500.

The Origin header, when sent, must be this site's own origin (scheme, host and port of the
page, the host one of ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS; a cookie-authenticated
socket must send one, so another site's page cannot ride a player's session.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import get_user
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from foundation.db import database_sync_to_async
from observability.access import client_address as forwarded_client_address
from realtime import tickets
from realtime.identity import Identity, address_key, guest_identity
from users import tokens as user_tokens
from users.authentication import ActiveUserJWTAuthentication
from users.guests import GUEST_COOKIE, guest_id_from_cookie, new_guest_id
from users.models import User

logger = logging.getLogger(__name__)

MAX_QUERY_STRING = 2048


class HandshakeRefusedError(Exception):
    """The handshake is refused; ``reason`` is for the server log and never holds a secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _origin_parts(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, the default port filled in; None if it is
    not one (``null``, junk, another scheme)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _scheme(scope: dict[str, Any]) -> str:
    """The scheme the browser used: wss, or https as a TLS proxy reports it when the settings
    say to trust that proxy's header (as Django's ``request.is_secure`` does)."""
    if scope.get("scheme") in ("wss", "https"):
        return "https"
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        header = name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        value = _header(scope, header)
        if value is not None and value.split(",", 1)[0].strip() == secure_value:
            return "https"
    return "http"


def _own_origin(scope: dict[str, Any]) -> tuple[str, str, int] | None:
    """The origin of the page the socket is meant for: this site's scheme and the Host the
    client connected to, if that host is one of ours."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return _origin_parts(f"{_scheme(scope)}://{host}")


def _trusted(origin: tuple[str, str, int]) -> bool:
    """Whether ``origin`` is in CSRF_TRUSTED_ORIGINS (``https://*.example.com`` covers the
    subdomains of example.com, as for Django's CSRF check)."""
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        trusted = _origin_parts(entry.replace("://*.", "://", 1))
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and is_same_domain(host, "." + trusted[1])):
            return True
    return False


def check_origin(scope: dict[str, Any], *, cookie_auth: bool) -> None:
    """Refuse a handshake whose Origin is not this site's own (scheme, host and port) nor a
    trusted origin. Without an Origin, only a socket that does not ride a cookie passes:
    bots send none, and a browser always does."""
    origin = _header(scope, b"origin")
    if origin is None:
        if cookie_auth:
            raise HandshakeRefusedError("cookie-authenticated socket without an Origin header")
        return
    parts = _origin_parts(origin)
    if parts is None:
        raise HandshakeRefusedError("unusable Origin header")
    if parts != _own_origin(scope) and not _trusted(parts):
        raise HandshakeRefusedError("Origin is not this site's origin")


def identity_for_user(user: User, session_key: str = "", token_family: str = "") -> Identity:
    return Identity(
        user_id=str(user.pk),
        username=user.username,
        display_name=user.shown_name,
        color=user.color,
        role=user.role,
        account_id=user.pk,
        session_key=session_key,
        token_family=token_family,
    )


@database_sync_to_async
def _identity_from_token(raw: str) -> Identity:
    auth = ActiveUserJWTAuthentication()
    try:
        token = auth.get_validated_token(raw.encode())
        user = auth.get_user(token)  # active, unbanned, current password, sign-in not ended
    except (InvalidToken, TokenError, AuthenticationFailed) as exc:
        raise HandshakeRefusedError("invalid or refused access token") from exc
    return identity_for_user(user, token_family=user_tokens.family_of(token))


def _session_exists(session_key: str) -> bool:
    store: type[SessionBase] = import_module(settings.SESSION_ENGINE).SessionStore
    return bool(store().exists(session_key))


@database_sync_to_async
def _identity_from_ticket(grant: tickets.TicketGrant) -> Identity:
    """The ticket's account, if its credentials are still good: the account active and not
    banned, the password unchanged since issue, the sign-in or browser session not ended."""
    user = User.objects.filter(pk=grant.user_id).first()
    if user is None or not user.is_active or user.is_site_banned:
        raise HandshakeRefusedError("ticket user is unknown, inactive or banned")
    if not user_tokens.stamp_is_current(user, grant.stamp):
        raise HandshakeRefusedError("ticket issued before a password change")
    if user_tokens.sign_in_ended(grant.token_family) or (
        grant.session_key and not _session_exists(grant.session_key)
    ):
        raise HandshakeRefusedError("ticket of a sign-in that has ended")
    return identity_for_user(user, grant.session_key, grant.token_family)


def _session(scope: dict[str, Any]) -> SessionBase | None:
    """The browser session named by the cookie (loaded lazily, in a worker thread, by
    ``get_user``); kept in ``scope["session"]`` as Channels' session middleware would."""
    key = scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME)
    if not key or len(key) > 64:
        return None
    store: type[SessionBase] = import_module(settings.SESSION_ENGINE).SessionStore
    session = store(session_key=key)
    scope["session"] = session
    return session


def client_address(scope: dict[str, Any]) -> str:
    """The client's address: the peer's, or behind NUM_PROXIES trusted proxies the one the
    outermost of them saw (X-Forwarded-For), as the REST throttles count it."""
    client = scope.get("client") or ("", 0)
    forwarded = _header(scope, b"x-forwarded-for") or ""
    return forwarded_client_address(str(client[0] or ""), forwarded, settings.NUM_PROXIES)


async def authenticate(scope: dict[str, Any]) -> Identity:
    """The identity a WebSocket handshake may act as, or ``HandshakeRefusedError``; it
    carries the key of the client's address (``identity.address_key``)."""
    identity = await _authenticate(scope)
    return replace(identity, address_key=address_key(client_address(scope)))


async def _authenticate(scope: dict[str, Any]) -> Identity:
    query_string = bytes(scope.get("query_string", b""))
    if len(query_string) > MAX_QUERY_STRING:
        raise HandshakeRefusedError("query string too long")
    # Blank values kept: "?ticket=" is a credential presented (and refused), not a guest.
    query = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    authorization = _header(scope, b"authorization")
    if authorization is not None:
        kind, _, raw = authorization.partition(" ")
        if kind.lower() != "bearer" or not raw.strip():
            raise HandshakeRefusedError("malformed Authorization header")
        check_origin(scope, cookie_auth=False)
        return await _identity_from_token(raw.strip())

    if "ticket" in query:
        grant = await tickets.aredeem_ticket(query["ticket"][0])
        if grant is None:
            raise HandshakeRefusedError("unknown, expired or used ticket")
        check_origin(scope, cookie_auth=False)
        return await _identity_from_ticket(grant)

    session = _session(scope)
    session_key: str = (session.session_key or "") if session is not None else ""
    check_origin(scope, cookie_auth=bool(session_key))
    if session_key:
        user = await get_user(scope)
        if isinstance(user, User) and user.is_authenticated:
            return identity_for_user(user, session_key=session_key)

    if not settings.GUESTS_ALLOWED:
        raise HandshakeRefusedError("guests are not allowed")
    # The web pages give an anonymous browser a signed guest cookie (rooms.pages).
    guest_id = guest_id_from_cookie(scope.get("cookies", {}).get(GUEST_COOKIE)) or new_guest_id()
    return guest_identity(guest_id, session_key=session_key)
