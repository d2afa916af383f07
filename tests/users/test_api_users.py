"""users/me and public profiles."""

from __future__ import annotations

from collections.abc import Callable

from rest_framework.test import APIClient

from moderation.models import ModerationAction
from users import services
from users.models import User

ME = "/api/v1/users/me"


def test_me_requires_authentication(db: None, api_client: APIClient) -> None:
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"


def test_me_shows_the_own_email(
    make_user: Callable[..., User], authed_client: Callable[..., APIClient]
) -> None:
    user = make_user("alice", email="alice@example.com")
    body = authed_client(user).get(ME).json()
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"


def test_patch_me_updates_the_profile(
    make_user: Callable[..., User], authed_client: Callable[..., APIClient]
) -> None:
    user = make_user()
    response = authed_client(user).patch(
        ME,
        {"display_name": "Keys", "color": "#A0B0C0", "status_text": "hi", "bio": "x\ny"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    user.refresh_from_db()
    assert (user.display_name, user.color, user.status_text, user.bio) == (
        "Keys",
        "#a0b0c0",
        "hi",
        "x\ny",
    )


def test_patch_me_reports_every_bad_field(
    make_user: Callable[..., User], authed_client: Callable[..., APIClient]
) -> None:
    user = make_user(display_name="Before")
    response = authed_client(user).patch(
        ME, {"color": "blue", "display_name": "evil\u202etxt.exe"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_ARGUMENT"
    assert set(body["fields"]) == {"color", "display_name"}
    user.refresh_from_db()
    assert user.display_name == "Before"


def test_patch_me_rejects_zero_width_and_overlong_names(
    make_user: Callable[..., User], authed_client: Callable[..., APIClient]
) -> None:
    client = authed_client(make_user())
    for name in ("zero\u200bwidth", "x" * 33):
        assert client.patch(ME, {"display_name": name}, format="json").status_code == 400


def test_patch_me_cannot_change_role_or_username(
    make_user: Callable[..., User], authed_client: Callable[..., APIClient]
) -> None:
    user = make_user("alice")
    response = authed_client(user).patch(ME, {"role": "ADMIN", "username": "root"}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.role, user.username) == ("MEMBER", "alice")


def test_public_profile_hides_email_and_ban(
    make_user: Callable[..., User], api_client: APIClient, superuser: User
) -> None:
    user = make_user("alice", email="alice@example.com", display_name="Alice")
    services.site_ban(user, by=superuser, reason="spam", source=ModerationAction.Source.API)
    response = api_client.get("/api/v1/users/ALICE")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["display_name"] == "Alice"
    assert set(body) == {
        "username",
        "display_name",
        "color",
        "role",
        "status_text",
        "bio",
        "date_joined",
    }
    assert "alice@example.com" not in response.content.decode()
    assert "spam" not in response.content.decode()


def test_unknown_profile_is_a_json_404(db: None, api_client: APIClient) -> None:
    response = api_client.get("/api/v1/users/nobody-here")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
