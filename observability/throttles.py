"""The REST API's throttles, counting per client as the rest of the server does.

DRF's own throttles take the client from X-Forwarded-For as it comes: behind a proxy a
client could write a new "address" there on every request, and an IPv6 client could use a
new address of its network for each. These count the validated client address
(``observability.access.client_address``: junk falls back to the peer's address) and an IPv6
address by its /64, as the sockets' per-address limits and the sign-in lockout do.

DRF's throttles also read a client's history from the cache and write it back: requests
sent at once all read the same history and all pass. These count in slots of a tenth of the
rate's duration instead, each request one atomic increment of its slot's counter
(``cache.add`` then ``cache.incr``, atomic on Redis and on the in-process cache alike), so a
limit holds however the requests arrive, and at any moment (docs/security.md).
"""

from __future__ import annotations

import math
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

# A rate's duration is counted in this many slots.
SLOTS = 10
# The shortest wait a refusal names (a request counted in one slot may be refused in the next).
MIN_WAIT = 1.0


class AtomicRateThrottle(throttling.SimpleRateThrottle):
    """DRF's SimpleRateThrottle, counting a client's requests in slots of a tenth of the rate's
    duration, each request one atomic increment of its slot's counter. A request goes through
    when the slots covering the last duration (its own and the ten before it, and any that
    began while it was counted) hold at most ``num_requests`` with it; a refused one takes its
    increment back. Those slots span
    the whole duration and up to a tenth more, so no span of the rate's duration ever holds
    more than ``num_requests``, at a window's edge as anywhere else (fixed windows let twice
    the rate through across their edge); a client sending steadily at the limit gets a tenth
    less at worst.

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
        slot_length = self.duration / SLOTS
        mine = int(time.time() // slot_length)
        # This request's place among those of its slot, however many arrive at once (the
        # counter's new value); then the other slots, read after it is counted. Two requests
        # of different slots sent at once each count themselves before reading the other's
        # slot, so at least one of them sees the other (docs/security.md).
        place = self._count(f"{key}:{mine}", slot_length)
        latest = int(time.time() // slot_length)
        earlier = [f"{key}:{slot}" for slot in range(mine - SLOTS, mine)]
        later = [f"{key}:{slot}" for slot in range(mine + 1, latest + 1)]
        counted = self.cache.get_many(earlier + later)
        before = [int(counted.get(name, 0)) for name in earlier]
        place += sum(before) + sum(int(counted.get(name, 0)) for name in later)
        if place <= self.num_requests:
            return True
        self._uncount(f"{key}:{mine}")
        # The wait from the counts as they are now that this request is uncounted: requests
        # refused at the same moment have taken theirs back too.
        mine_now = int(self.cache.get(f"{key}:{mine}", 0))
        later_now = sum(int(counted.get(name, 0)) for name in later)
        self.wait_seconds = self._wait(
            before, sum(before) + mine_now + later_now + 1, mine, time.time(), slot_length
        )
        return False

    def _count(self, key: str, slot_length: float) -> int:
        """This request added to its slot's counter; the counter's new value."""
        # A counter is read for a duration after its slot ends, then expires (whole seconds:
        # Redis takes no fraction, and rounding down would end a per-second rate's too soon).
        timeout = math.ceil(self.duration + 2 * slot_length) + 1
        for _ in range(_COUNTER_ATTEMPTS):
            self.cache.add(key, 0, timeout)
            try:
                return int(self.cache.incr(key))
            except ValueError:
                # It expired or was evicted between the two calls: add it again.
                continue
        return 1

    def _uncount(self, key: str) -> None:
        """A refused request's increment taken back: refusals spend no budget."""
        try:
            self.cache.decr(key)
        except ValueError:
            # The counter was evicted meanwhile: there is nothing left to take back from.
            return

    def _wait(
        self, before: list[int], place: int, current: int, now: float, slot_length: float
    ) -> float:
        """Seconds until enough of the earlier slots leave the count for a request refused at
        ``place`` to go through."""
        for offset, count in enumerate(before):
            place -= count
            if place <= self.num_requests:
                # Slot ``current - SLOTS + offset`` is counted until slot ``current + offset``
                # ends.
                return max((current + offset + 1) * slot_length - now, MIN_WAIT)
        return max((current + SLOTS + 1) * slot_length - now, MIN_WAIT)

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
