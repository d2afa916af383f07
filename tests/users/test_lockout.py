"""Repeated wrong passwords lock out an address and an account on every login path: the
admin's login, the web login page and the token endpoint share one budget (hardening 4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from users.models import User

from .conftest import PASSWORD

#: LOGIN_FAILURE_LIMIT's default. The admin's login has no other limit; the web page and the
#: API also have the REST throttle (10 a minute per address), so the tests spend most
#: guesses on the admin and stay under that throttle elsewhere.
LIMIT = 10


@pytest.fixture(autouse=True)
def _fast_hashes(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def admin_login(username: str, password: str, address: str = "10.1.1.1") -> int:
    response = Client(REMOTE_ADDR=address).post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    return int(response.status_code)


def web_login(username: str, password: str, address: str = "10.1.1.1") -> int:
    response = Client(REMOTE_ADDR=address).post(
        "/accounts/login/", {"username": username, "password": password}
    )
    return int(response.status_code)


def api_login(username: str, password: str, address: str = "10.1.1.1") -> Any:
    return APIClient(REMOTE_ADDR=address).post(
        "/api/v1/auth/token", {"username": username, "password": password}, format="json"
    )


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("boss", is_staff=True, is_superuser=True)


def test_admin_login_guesses_from_one_address_are_locked_out(staff: User) -> None:
    statuses = [admin_login("boss", f"guess-{n}") for n in range(30)]
    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with an error
    assert set(statuses[LIMIT:]) == {429}
    # Even the right password, from that address, until the lockout ends...
    assert admin_login("boss", PASSWORD) == 429
    # ...and the account is locked from anywhere else too.
    assert admin_login("boss", PASSWORD, address="10.9.9.9") == 429


def test_guesses_at_one_account_from_many_addresses_lock_the_account(staff: User) -> None:
    for n in range(LIMIT):
        admin_login("boss", f"guess-{n}", address=f"10.2.0.{n}")
    assert admin_login("boss", PASSWORD, address="10.2.1.1") == 429
    assert api_login("BOSS", PASSWORD, address="10.2.1.2").status_code == 429


def test_one_address_spraying_many_accounts_is_locked_out(
    make_user: Callable[..., User],
) -> None:
    for n in range(LIMIT):
        make_user(f"victim{n}")
        admin_login(f"victim{n}", "wrong-password")
    make_user("bystander")
    assert web_login("bystander", PASSWORD) == 429
    assert web_login("bystander", PASSWORD, address="10.3.3.3") == 302  # another address


def test_the_admin_the_web_page_and_the_api_share_one_budget(staff: User) -> None:
    for n in range(3):
        assert api_login("boss", f"api-{n}").status_code == 401
    for n in range(3):
        assert web_login("boss", f"web-{n}") == 200
    for n in range(LIMIT - 6):
        assert admin_login("boss", f"admin-{n}") in (200, 429)
    response = api_login("boss", PASSWORD)
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["retry_after"] > 0
    assert admin_login("boss", PASSWORD) == 429
    assert web_login("boss", PASSWORD) == 429


def test_a_locked_out_web_login_explains_itself(staff: User) -> None:
    for n in range(LIMIT):
        admin_login("boss", f"guess-{n}")
    response = Client(REMOTE_ADDR="10.1.1.1").post(
        "/accounts/login/", {"username": "boss", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert int(response["Retry-After"]) > 0


def test_right_passwords_under_the_limit_still_work(staff: User) -> None:
    for n in range(LIMIT - 1):
        admin_login("boss", f"guess-{n}")
    client = Client(REMOTE_ADDR="10.1.1.1")
    response = client.post("/admin/login/?next=/admin/", {"username": "boss", "password": PASSWORD})
    assert response.status_code == 302
