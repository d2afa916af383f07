"""The users admin as a moderator (non-superuser staff) uses it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from moderation.models import ModerationAction
from users import services
from users.models import User

from .conftest import PASSWORD

CHANGELIST = "/admin/users/user/"
Source = ModerationAction.Source


@pytest.fixture
def moderator(superuser: User, make_user: Callable[..., User]) -> User:
    user = make_user("mod-mia")
    services.set_role(user, User.Role.MODERATOR, by=superuser, source=Source.ADMIN)
    return user


@pytest.fixture
def moderator_client(moderator: User) -> Client:
    """A client that logged in through the admin's own login form."""
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "mod-mia", "password": PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302, response.content.decode()
    return client


def _ban_through_admin(client: Client, action: str, users: list[User], reason: str) -> None:
    ids = [str(u.pk) for u in users]
    confirm = client.post(CHANGELIST, {"action": action, "_selected_action": ids, "index": 0})
    assert confirm.status_code == 200
    assert "reason" in confirm.content.decode()
    done = client.post(
        CHANGELIST,
        {
            "action": action,
            "_selected_action": ids,
            "apply": "yes",
            "duration": "7d",
            "reason": reason,
        },
    )
    assert done.status_code == 302


def test_moderator_bans_a_user_through_the_admin(
    moderator_client: Client, moderator: User, make_user: Callable[..., User]
) -> None:
    target = make_user("troll")
    assert moderator_client.get(CHANGELIST).status_code == 200
    _ban_through_admin(moderator_client, "ban_for_a_week", [target], "flooding")
    target.refresh_from_db()
    assert target.is_site_banned
    assert target.ban_reason == "flooding"
    logged = ModerationAction.objects.get(action=ModerationAction.Action.SITE_BAN)
    assert (logged.source, logged.actor, logged.target_user) == (Source.ADMIN, moderator, target)
    assert logged.expires_at == target.banned_until


def test_ban_action_without_a_reason_shows_the_form_again(
    moderator_client: Client, make_user: Callable[..., User]
) -> None:
    target = make_user()
    response = moderator_client.post(
        CHANGELIST,
        {"action": "ban_for_a_day", "_selected_action": [target.pk], "apply": "yes", "reason": ""},
    )
    assert response.status_code == 200
    target.refresh_from_db()
    assert not target.is_site_banned


def test_moderator_cannot_ban_an_admin_through_the_admin(
    moderator_client: Client, superuser: User, make_user: Callable[..., User]
) -> None:
    member = make_user()
    _ban_through_admin(moderator_client, "ban_permanently", [member, superuser], "nope")
    superuser.refresh_from_db()
    member.refresh_from_db()
    assert member.is_site_banned
    assert not superuser.is_site_banned
    assert ModerationAction.objects.filter(action="SITE_BAN").count() == 1


def test_lift_ban_action_unbans_and_logs(
    moderator_client: Client, moderator: User, make_user: Callable[..., User]
) -> None:
    target = make_user()
    services.site_ban(target, by=moderator, reason="oops", source=Source.API)
    response = moderator_client.post(
        CHANGELIST,
        {
            "action": "lift_ban",
            "_selected_action": [target.pk],
            "apply": "yes",
            "reason": "appeal",
        },
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert not target.is_site_banned
    assert ModerationAction.objects.filter(
        action="SITE_UNBAN", source=Source.ADMIN, reason="appeal"
    ).exists()


def test_moderator_sees_permission_fields_read_only(
    moderator_client: Client, make_user: Callable[..., User]
) -> None:
    target = make_user()
    page = moderator_client.get(f"{CHANGELIST}{target.pk}/change/").content.decode()
    assert 'name="display_name"' in page
    for field in ("is_superuser", "is_staff", "groups", "user_permissions", "role"):
        assert f'name="{field}"' not in page


def test_moderator_cannot_edit_an_admin(moderator_client: Client, superuser: User) -> None:
    page = moderator_client.get(f"{CHANGELIST}{superuser.pk}/change/")
    assert 'name="display_name"' not in page.content.decode()  # read-only view at most
    response = moderator_client.post(f"{CHANGELIST}{superuser.pk}/password/", {})
    assert response.status_code == 403


def test_moderator_cannot_set_a_members_password(
    moderator_client: Client, make_user: Callable[..., User]
) -> None:
    target = make_user()
    response = moderator_client.post(
        f"{CHANGELIST}{target.pk}/password/",
        {"password1": "x-new-passphrase-9", "password2": "x-new-passphrase-9"},
    )
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.check_password(PASSWORD)


def test_superuser_adds_a_user_in_the_admin(superuser: User) -> None:
    client = Client()
    client.force_login(superuser)
    assert client.get(f"{CHANGELIST}add/").status_code == 200
    response = client.post(
        f"{CHANGELIST}add/",
        {
            "username": "added-in-admin",
            "usable_password": "true",
            "password1": "x-new-passphrase-9",
            "password2": "x-new-passphrase-9",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(username="added-in-admin").role == User.Role.MEMBER


def test_ban_state_filter(
    moderator_client: Client, moderator: User, make_user: Callable[..., User]
) -> None:
    banned, _free = make_user("banned-bo"), make_user("free-fay")
    services.site_ban(banned, by=moderator, reason="x", source=Source.API)
    page = moderator_client.get(CHANGELIST, {"ban": "banned"}).content.decode()
    assert "banned-bo" in page
    assert "free-fay" not in page
    page = moderator_client.get(CHANGELIST, {"ban": "not_banned"}).content.decode()
    assert "free-fay" in page
    assert "banned-bo" not in page


def test_superuser_role_change_goes_through_set_role(
    superuser: User, make_user: Callable[..., User]
) -> None:
    target = make_user("promote-me")
    client = Client()
    client.force_login(superuser)
    page = client.get(f"{CHANGELIST}{target.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "groups", "user_permissions")
    }
    data.update({"role": "MODERATOR", "date_joined_0": "", "last_login_0": ""})
    response = client.post(f"{CHANGELIST}{target.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    target.refresh_from_db()
    assert target.role == "MODERATOR"
    assert target.is_staff
    assert target.groups.filter(name="Moderators").exists()
    logged = ModerationAction.objects.get(action="SET_ROLE")
    assert logged.source == Source.ADMIN
    assert logged.actor == superuser


def test_member_cannot_reach_the_admin(make_user: Callable[..., User]) -> None:
    client = Client()
    client.force_login(make_user())
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get(CHANGELIST).status_code == 302


def test_banned_moderator_is_refused_at_the_admin_login(moderator: User, superuser: User) -> None:
    services.site_ban(moderator, by=superuser, reason="rogue", source=Source.API)
    response = Client().post("/admin/login/", {"username": "mod-mia", "password": PASSWORD})
    assert response.status_code == 200
    assert "banned" in response.content.decode()
