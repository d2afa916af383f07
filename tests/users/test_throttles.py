"""The REST throttles and the sign-in lockout count a client by its validated address: junk
in X-Forwarded-For or a fresh IPv6 address of the same /64 for every request is still one
client (hardening 3, 7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
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
