"""The REST API's throttles, counting per client as the rest of the server does.

DRF's own throttles take the client from X-Forwarded-For as it comes: behind a proxy a
client could write a new "address" there on every request, and an IPv6 client could use a
new address of its network for each. These count the validated client address
(``observability.access.client_address``: junk falls back to the peer's address) and an IPv6
address by its /64, as the sockets' per-address limits and the sign-in lockout do.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework import throttling
from rest_framework.request import Request

from observability.access import client_address, client_network


def client_ident(request: HttpRequest | Request) -> str:
    """Whose share a request spends: its client's address, an IPv6 one by its /64."""
    meta = request.META
    address = client_address(
        meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""), settings.NUM_PROXIES
    )
    return client_network(address) or address


class ClientAddressMixin:
    def get_ident(self, request: Request) -> str:
        return client_ident(request)


class AnonRateThrottle(ClientAddressMixin, throttling.AnonRateThrottle):
    """Anonymous requests, per client address."""


class UserRateThrottle(ClientAddressMixin, throttling.UserRateThrottle):
    """Signed-in requests per user; anonymous ones per client address."""


class ScopedRateThrottle(ClientAddressMixin, throttling.ScopedRateThrottle):
    """A view's ``throttle_scope`` budget, per user or client address."""


class SimpleRateThrottle(ClientAddressMixin, throttling.SimpleRateThrottle):
    """A base for throttles of one's own, per client address."""
