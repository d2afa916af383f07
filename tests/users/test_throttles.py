"""The REST throttles and the sign-in lockout count a client by its validated address: junk
in X-Forwarded-For or a fresh IPv6 address of the same /64 for every request is still one
client (hardening 3, 7)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connections
from rest_framework.test import APIClient

from observability.throttles import client_ident
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def behind_a_proxy(settings: Any) -> None:
    settings.NUM_PROXIES = 1
    # DRF's own throttles read their NUM_PROXIES here: set, they would believe the header.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}


def test_junk_in_x_forwarded_for_does_not_buy_a_fresh_budget(
    behind_a_proxy: None, api_client: APIClient
) -> None:
    def register(n: int, forwarded: str) -> int:
        body = {"username": f"x{n}", "password": "short"}  # refused: only the budget counts
        response = api_client.post(
            "/api/v1/auth/register", body, format="json", HTTP_X_FORWARDED_FOR=forwarded
        )
        return int(response.status_code)

    statuses = [register(n, f"not-an-address-{n}") for n in range(12)]
    assert statuses == [400] * 10 + [429, 429]  # ten registrations an hour per address
    # A real client behind the proxy still has its own budget.
    assert register(99, "198.51.100.4") == 400


def test_new_ipv6_addresses_of_one_network_share_one_budget(
    make_user: Callable[..., User], obtain: Callable[..., Any]
) -> None:
    statuses = [
        obtain(f"nobody{n}", "guess", REMOTE_ADDR=f"2001:db8:0:7::{n:x}").status_code
        for n in range(1, 13)
    ]
    assert statuses[:9] == [401] * 9
    assert statuses[10:] == [429, 429]
    assert obtain("somebody", "guess", REMOTE_ADDR="2001:db8:0:8::1").status_code == 401


@pytest.mark.parametrize(
    ("meta", "ident"),
    [
        ({"REMOTE_ADDR": "203.0.113.5"}, "203.0.113.5"),
        ({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::"),
        ({"REMOTE_ADDR": "::ffff:203.0.113.5"}, "203.0.113.5"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.4"}, "198.51.100.4"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "<script>"}, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, junk"}, "10.0.0.1"),
    ],
)
def test_a_request_is_counted_by_its_clients_address(
    behind_a_proxy: None, rf: Any, meta: dict[str, str], ident: str
) -> None:
    assert client_ident(rf.get("/", **meta)) == ident


# --- Counting under concurrency --------------------------------------------------------------
# DRF's throttles read a client's history and write it back: requests sent at once all read
# the same history and all pass. A limit must hold however the requests arrive.


class SlowLocMemCache(LocMemCache):
    """The in-process cache, answering each call after a moment as Redis across a network
    does: other requests run meanwhile, so a read-then-write race shows on every run."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(CACHE_LATENCY)
        return super().get(*args, **kwargs)

    def set(self, *args: Any, **kwargs: Any) -> None:
        time.sleep(CACHE_LATENCY)
        super().set(*args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> bool:
        time.sleep(CACHE_LATENCY)
        return super().add(*args, **kwargs)

    def incr(self, *args: Any, **kwargs: Any) -> int:
        time.sleep(CACHE_LATENCY)
        return super().incr(*args, **kwargs)


CACHE_LATENCY = 0.002


class StillClock:
    """The throttles' clock held in the middle of a slot: these tests are about requests
    sent at once, not about a slot's edge (tested below), where a burst may get fewer than
    the limit through (each request counts itself before reading the other slots)."""

    @staticmethod
    def time() -> float:
        return 60 * 29_000_000 + 3.0


@pytest.fixture
def slow_cache(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": f"{__name__}.SlowLocMemCache", "LOCATION": "slow-limits"},
    }
    monkeypatch.setattr("observability.throttles.time", StillClock)
    caches["default"].clear()
    yield
    caches["default"].clear()


def _at_once(count: int, send: Callable[[int], Any]) -> list[Any]:
    """``send(0..count-1)``, each in its own thread, all released together; the responses."""
    start = threading.Barrier(count)

    def one(n: int) -> Any:
        start.wait()
        try:
            return send(n)
        finally:
            connections.close_all()  # this thread's connection, not left open (PostgreSQL)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def _statuses(responses: list[Any]) -> Counter[int]:
    return Counter(int(response.status_code) for response in responses)


def _assert_refusals_are_rate_limited(responses: list[Any]) -> None:
    for response in responses:
        if response.status_code == 429:
            assert response.json()["code"] == "RATE_LIMITED"
            assert response.json()["retry_after"] > 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("slow_cache")
def test_registrations_sent_at_once_from_one_address_stop_at_the_limit() -> None:
    def register(n: int) -> Any:
        body = {"username": f"burst{n}", "password": "short"}  # refused: only the budget counts
        return APIClient().post("/api/v1/auth/register", body, format="json")

    responses = _at_once(32, register)
    assert _statuses(responses) == {400: 10, 429: 22}  # ten registrations an hour per address
    _assert_refusals_are_rate_limited(responses)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("slow_cache")
def test_tickets_requested_at_once_stop_at_the_limit(make_user: Callable[..., User]) -> None:
    user = make_user()

    def ticket(n: int) -> Any:
        client = APIClient()
        client.force_authenticate(user)
        return client.post("/api/v1/realtime/tickets")

    responses = _at_once(80, ticket)
    assert _statuses(responses) == {201: 30, 429: 50}  # thirty tickets a minute
    _assert_refusals_are_rate_limited(responses)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("slow_cache")
def test_anonymous_reads_sent_at_once_stop_at_the_limit() -> None:
    def rooms(n: int) -> Any:
        return APIClient().get("/api/v1/rooms/")

    responses = _at_once(200, rooms)
    assert _statuses(responses) == {200: 120, 429: 80}  # 120 a minute without an account
    _assert_refusals_are_rate_limited(responses)


# --- Counting over time ---------------------------------------------------------------------
# Counted in fixed windows, a client could send the whole rate just before a window ended and
# again just after: twice the rate within a second, and a test sending the rate at once
# failed when it ran over a minute's edge.


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    # Just before a minute's (and a slot's) edge.
    clock = Clock(60 * 29_000_000 - 0.2)
    monkeypatch.setattr("observability.throttles.time", clock)
    return clock


def test_the_rate_sent_across_a_minutes_edge_gets_through_once(
    clock: Clock, make_user: Callable[..., User]
) -> None:
    client = APIClient()
    client.force_authenticate(make_user())

    def ticket() -> Any:
        return client.post("/api/v1/realtime/tickets")

    assert [ticket().status_code for _ in range(30)] == [201] * 30  # thirty tickets a minute
    clock.now += 0.4  # into the next minute
    refused = ticket()
    assert refused.status_code == 429
    # The thirty leave the count a minute after their slot (six seconds) ended.
    assert refused.json()["retry_after"] == 60
    clock.now += 59.5
    assert ticket().status_code == 429
    clock.now += 0.4
    assert [ticket().status_code for _ in range(31)] == [201] * 30 + [429]


def test_refused_requests_spend_nothing(clock: Clock, make_user: Callable[..., User]) -> None:
    client = APIClient()
    client.force_authenticate(make_user())

    def ticket() -> int:
        return int(client.post("/api/v1/realtime/tickets").status_code)

    assert [ticket() for _ in range(10)] == [201] * 10
    clock.now += 30
    assert [ticket() for _ in range(60)] == [201] * 20 + [429] * 40
    # The first ten leave the count when their slot has been over for a minute; only they.
    clock.now += 30.2
    assert [ticket() for _ in range(11)] == [201] * 10 + [429]


def test_two_requests_at_a_slots_edge_cannot_both_take_the_last_place(
    clock: Clock, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    from observability.throttles import AtomicRateThrottle

    client = APIClient()
    client.force_authenticate(make_user())

    def ticket() -> int:
        return int(client.post("/api/v1/realtime/tickets").status_code)

    assert [ticket() for _ in range(29)] == [201] * 29  # one place left this minute
    count = AtomicRateThrottle._count
    raced: list[int] = []
    held: list[str] = []

    def count_after_another(self: AtomicRateThrottle, key: str, slot_length: float) -> int:
        # A request of a slot is held up just before it is counted; meanwhile the slot ends
        # and a request of the next one goes through the whole throttle.
        if not held and key.startswith("throttle_tickets"):
            held.append(key)
            clock.now += 0.4
            raced.append(ticket())
        return count(self, key, slot_length)

    monkeypatch.setattr(AtomicRateThrottle, "_count", count_after_another)
    first = ticket()
    assert sorted([first, *raced]) == [201, 429]  # thirty a minute, at the edge too
