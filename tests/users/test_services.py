"""Registration, profiles, site bans and roles through users.services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from foundation.exceptions import InvalidArgumentError
from moderation.models import ModerationAction
from users import services
from users.exceptions import (
    InvalidFieldError,
    NotAllowedToModerateError,
    SiteBannedError,
    UsernameTakenError,
)
from users.models import User
from users.signals import site_ban_changed

API = ModerationAction.Source.API


@pytest.fixture
def moderator(superuser: User, make_user: Callable[..., User]) -> User:
    user = make_user("mod-mia")
    services.set_role(user, User.Role.MODERATOR, by=superuser, source=API)
    return user


def test_register_user_creates_a_member_with_a_hashed_password(db: None) -> None:
    user = services.register_user("Pianist", "a-long-passphrase-1", "p@example.com", " Ann ")
    assert user.role == User.Role.MEMBER
    assert user.display_name == "Ann"
    assert user.password.startswith("argon2")
    assert user.check_password("a-long-passphrase-1")


def test_register_user_refuses_a_username_differing_only_in_case(db: None) -> None:
    services.register_user("Pianist", "a-long-passphrase-1")
    with pytest.raises(UsernameTakenError):
        services.register_user("pIANIST", "a-long-passphrase-2")


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "pianist-x"])
def test_register_user_runs_the_password_validators(db: None, password: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        services.register_user("pianist-x", password)
    assert caught.value.field == "password"
    assert not User.objects.filter(username="pianist-x").exists()


def test_update_profile_normalises_and_saves(make_user: Callable[..., User]) -> None:
    user = make_user()
    services.update_profile(user, color="#ABCDEF", status_text=" jamming ", bio="a\r\nb")
    user.refresh_from_db()
    assert (user.color, user.status_text, user.bio) == ("#abcdef", "jamming", "a\nb")


def test_update_profile_rejects_unknown_fields(make_user: Callable[..., User]) -> None:
    with pytest.raises(InvalidArgumentError):
        services.update_profile(make_user(), role="ADMIN")


def test_update_profile_rejects_bidi_display_names(make_user: Callable[..., User]) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        services.update_profile(make_user(), display_name="admin\u202e")
    assert caught.value.field == "display_name"


def test_set_role_moderator_makes_staff_in_the_moderators_group(moderator: User) -> None:
    moderator.refresh_from_db()
    assert moderator.is_staff
    assert not moderator.is_superuser
    assert moderator.groups.filter(name=services.MODERATORS_GROUP).exists()
    logged = ModerationAction.objects.get(action=ModerationAction.Action.SET_ROLE)
    assert logged.target_user == moderator
    assert logged.reason == "MEMBER → MODERATOR"


def test_set_role_admin_then_member_keeps_flags_in_step(superuser: User, moderator: User) -> None:
    services.set_role(moderator, User.Role.ADMIN, by=superuser, source=API)
    assert moderator.is_staff
    assert moderator.is_superuser
    assert not moderator.groups.exists()
    services.set_role(moderator, User.Role.MEMBER, by=superuser, source=API)
    moderator.refresh_from_db()
    assert not moderator.is_staff
    assert not moderator.is_superuser
    assert Group.objects.filter(name=services.MODERATORS_GROUP).exists()


def test_set_role_is_for_admins_only(moderator: User, make_user: Callable[..., User]) -> None:
    with pytest.raises(NotAllowedToModerateError):
        services.set_role(make_user(), User.Role.MODERATOR, by=moderator, source=API)


def test_set_role_refuses_guest(superuser: User, make_user: Callable[..., User]) -> None:
    with pytest.raises(InvalidFieldError):
        services.set_role(make_user(), User.Role.GUEST, by=superuser, source=API)


def test_site_ban_for_a_duration_sets_the_end_and_logs_it(
    moderator: User, make_user: Callable[..., User]
) -> None:
    target = make_user()
    logged = services.site_ban(
        target, by=moderator, duration=timedelta(days=1), reason="spam", source=API
    )
    target.refresh_from_db()
    assert target.is_site_banned
    assert target.ban_reason == "spam"
    assert logged.action == ModerationAction.Action.SITE_BAN
    assert (logged.actor, logged.actor_name, logged.target_name) == (
        moderator,
        "mod-mia",
        target.username,
    )
    assert logged.expires_at == target.banned_until
    assert logged.source == API


def test_site_ban_without_an_end_is_permanent(
    moderator: User, make_user: Callable[..., User]
) -> None:
    target = make_user()
    logged = services.site_ban(target, by=moderator, reason="raid", source=API)
    assert target.banned_until == services.PERMANENT_BAN_UNTIL
    assert services.ban_end(target) is None
    assert logged.expires_at is None
    with pytest.raises(SiteBannedError) as caught:
        services.check_can_log_in(target)
    assert caught.value.until is None


def test_site_ban_refuses_an_end_in_the_past(
    moderator: User, make_user: Callable[..., User]
) -> None:
    with pytest.raises(InvalidFieldError):
        services.site_ban(
            make_user(), by=moderator, until=timezone.now() - timedelta(hours=1), source=API
        )


def test_moderator_cannot_ban_an_admin_a_superuser_or_themselves(
    moderator: User, superuser: User, make_user: Callable[..., User]
) -> None:
    admin_user = make_user()
    services.set_role(admin_user, User.Role.ADMIN, by=superuser, source=API)
    for target in (admin_user, superuser, moderator):
        with pytest.raises(NotAllowedToModerateError):
            services.site_ban(target, by=moderator, reason="no", source=API)
    assert not ModerationAction.objects.filter(action=ModerationAction.Action.SITE_BAN).exists()


def test_member_cannot_ban(make_user: Callable[..., User]) -> None:
    with pytest.raises(NotAllowedToModerateError):
        services.site_ban(make_user(), by=make_user(), reason="no", source=API)


def test_site_unban_lifts_the_ban_and_logs_it(
    moderator: User, make_user: Callable[..., User]
) -> None:
    target = make_user()
    services.site_ban(target, by=moderator, duration=timedelta(hours=1), source=API)
    services.site_unban(target, by=moderator, reason="appeal", source=API)
    target.refresh_from_db()
    assert not target.is_site_banned
    assert target.banned_until is None
    assert ModerationAction.objects.filter(
        action=ModerationAction.Action.SITE_UNBAN, reason="appeal"
    ).exists()


def test_site_unban_refuses_a_user_who_is_not_banned(
    moderator: User, make_user: Callable[..., User]
) -> None:
    with pytest.raises(InvalidArgumentError):
        services.site_unban(make_user(), by=moderator, source=API)


@pytest.mark.django_db(transaction=True)
def test_site_ban_announces_the_change_after_commit(
    moderator: User, make_user: Callable[..., User]
) -> None:
    received: list[dict[str, object]] = []

    def listener(sender: object, **kwargs: object) -> None:
        received.append(kwargs)

    site_ban_changed.connect(listener)
    try:
        target = make_user()
        services.site_ban(target, by=moderator, duration=timedelta(hours=1), source=API)
    finally:
        site_ban_changed.disconnect(listener)
    assert received == [
        {"signal": site_ban_changed, "user_id": target.pk, "banned_until": target.banned_until}
    ]
