"""The REST API's throttles, counting per client as the rest of the server does.

DRF's own throttles take the client from X-Forwarded-For as it comes: behind a proxy a
client could write a new "address" there on every request, and an IPv6 client could use a
new address of its network for each. These count the validated client address
(``observability.access.client_address``: junk falls back to the peer's address) and an IPv6
address by its /64, as the sockets' per-address limits and the sign-in lockout do.

DRF's throttles also read a client's history from the cache and write it back: requests
sent at once all read the same history and all pass. These count in fixed windows instead,
with one atomic increment of a per-window counter (``cache.add`` then ``cache.incr``, atomic
on Redis and on the in-process cache alike), so a limit holds however the requests arrive
(docs/security.md).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest
from rest_framework import throttling
from rest_framework.request import Request

from observability.access import client_address, client_network

if TYPE_CHECKING:
    # Only for annotations: DRF's views module reads the throttle classes named in settings,
    # which are in this module.
    from rest_framework.views import APIView


def client_ident(request: HttpRequest | Request) -> str:
    """Whose share a request spends: its client's address, an IPv6 one by its /64."""
    meta = request.META
    address = client_address(
        meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""), settings.NUM_PROXIES
    )
    return client_network(address) or address


# Tries at adding a request to a counter that vanishes between ``add`` and ``incr``.
_COUNTER_ATTEMPTS = 3


class AtomicRateThrottle(throttling.SimpleRateThrottle):
    """DRF's SimpleRateThrottle, counting a client's requests in fixed windows of the rate's
    duration (a minute, an hour), each request one atomic increment; past ``num_requests``
    in a window, refused until it ends. Over a window's boundary a client can get up to
    twice the rate, never more.

    The throttles below list it after DRF's own (Scoped sets its rate, then calls this)."""

    # Set by DRF's __init__ from the rate (its stubs do not declare them).
    num_requests: int
    duration: int
    wait_seconds: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        if self._count(f"{key}:{window}") <= self.num_requests:
            return True
        self.wait_seconds = (window + 1) * self.duration - now
        return False

    def _count(self, key: str) -> int:
        """This request added to the window's counter; the counter's new value."""
        for _ in range(_COUNTER_ATTEMPTS):
            # The counter outlives its window by up to one duration, then expires.
            self.cache.add(key, 0, self.duration)
            try:
                return int(self.cache.incr(key))
            except ValueError:
                # It expired or was evicted between the two calls: add it again.
                continue
        return 1

    def wait(self) -> float | None:
        return self.wait_seconds


class ClientAddressMixin:
    def get_ident(self, request: Request) -> str:
        return client_ident(request)


class AnonRateThrottle(ClientAddressMixin, throttling.AnonRateThrottle, AtomicRateThrottle):
    """Anonymous requests, per client address."""


class UserRateThrottle(ClientAddressMixin, throttling.UserRateThrottle, AtomicRateThrottle):
    """Signed-in requests per user; anonymous ones per client address."""


class ScopedRateThrottle(ClientAddressMixin, throttling.ScopedRateThrottle, AtomicRateThrottle):
    """A view's ``throttle_scope`` budget, per user or client address."""


class SimpleRateThrottle(ClientAddressMixin, AtomicRateThrottle):
    """A base for throttles of one's own, per client address."""
