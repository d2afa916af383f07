"""The register, log-in and log-out pages, with CSRF enforced."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.test import Client

from moderation.models import ModerationAction
from users import services
from users.models import User

from .conftest import PASSWORD


def _csrf(client: Client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert match
    return match.group(1)


def test_register_page_creates_the_account_and_logs_in(db: None) -> None:
    client = Client(enforce_csrf_checks=True)
    token = _csrf(client, "/accounts/register/")
    response = client.post(
        "/accounts/register/",
        {
            "csrfmiddlewaretoken": token,
            "username": "newbie",
            "display_name": "New Bie",
            "email": "",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/").content.decode()
    assert "New Bie" in home
    assert "Log out" in home
    assert User.objects.get(username="newbie").display_name == "New Bie"


def test_register_page_without_csrf_token_is_refused(db: None) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/accounts/register/",
        {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="newbie").exists()


def test_register_page_shows_field_errors(db: None, make_user: Callable[..., User]) -> None:
    make_user("Taken")
    response = Client().post(
        "/accounts/register/",
        {"username": "taken", "password1": PASSWORD, "password2": "different-one"},
    )
    assert response.status_code == 200
    assert "The two passwords differ." in response.content.decode()
    response = Client().post(
        "/accounts/register/",
        {"username": "taken", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert "That username is taken." in response.content.decode()


def test_login_and_logout_pages_with_csrf(make_user: Callable[..., User]) -> None:
    make_user("alice", display_name="Alice")
    client = Client(enforce_csrf_checks=True)
    token = _csrf(client, "/accounts/login/")
    response = client.post(
        "/accounts/login/",
        {"csrfmiddlewaretoken": token, "username": "alice", "password": PASSWORD},
    )
    assert response.status_code == 302
    home = client.get("/")
    assert "Alice" in home.content.decode()
    assert client.post("/accounts/logout/").status_code == 403  # no token: refused
    token = _csrf(client, "/")
    assert client.post("/accounts/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert "Log in" in client.get("/").content.decode()


def test_login_page_tells_a_banned_user_why(
    make_user: Callable[..., User], superuser: User
) -> None:
    user = make_user("alice")
    services.site_ban(user, by=superuser, reason="spam", source=ModerationAction.Source.API)
    response = Client().post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert "banned permanently" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


def test_ban_ends_an_existing_session(make_user: Callable[..., User], superuser: User) -> None:
    user = make_user("alice")
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    assert client.get("/api/v1/users/me").status_code == 200
    services.site_ban(user, by=superuser, reason="spam", source=ModerationAction.Source.API)
    assert client.get("/api/v1/users/me").status_code in (401, 403)
    assert "Log in" in client.get("/").content.decode()


def test_login_page_is_throttled(make_user: Callable[..., User]) -> None:
    make_user("alice")
    client = Client()
    for _ in range(10):
        client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()


def test_pages_use_the_shared_layout_without_inline_scripts(db: None) -> None:
    for url in ("/", "/accounts/login/", "/accounts/register/"):
        html = Client().get(url).content.decode()
        assert "PianoRhythm" in html
        assert "/static/css/site.css" in html
        # Scripts only as files (CSP): every <script> has a src and no body.
        for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
            assert "src=" in attributes
            assert not body.strip()
        assert not re.search(r"\son[a-z]+=", html)
