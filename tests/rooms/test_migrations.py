"""What the rooms data migration leaves in a freshly migrated database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group

from rooms.models import Room
from users.models import User

pytestmark = pytest.mark.django_db


def test_migrations_create_the_lobby() -> None:
    lobby = Room.objects.get(name="lobby")
    assert lobby.is_lobby
    assert lobby.persistent
    assert lobby.is_public
    assert lobby.max_members == 30
    assert lobby.owner is None
    assert not lobby.has_password


def test_migrations_create_the_moderators_group_with_its_permissions() -> None:
    group = Group.objects.get(name="Moderators")
    granted = {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }
    assert granted == {
        "users.view_user",
        "users.change_user",
        "rooms.view_room",
        "rooms.change_room",
        "rooms.delete_room",
        "rooms.view_roomban",
        "rooms.add_roomban",
        "rooms.change_roomban",
        "rooms.delete_roomban",
        "rooms.view_chatmessage",
        "rooms.delete_chatmessage",
        "moderation.view_moderationaction",
    }


def test_group_permissions_are_the_ones_django_checks(make_user: Callable[..., User]) -> None:
    user = make_user(is_staff=True)
    user.groups.add(Group.objects.get(name="Moderators"))
    assert user.has_perm("rooms.delete_room")
    assert user.has_perm("moderation.view_moderationaction")
    assert not user.has_perm("moderation.change_moderationaction")
    assert not user.has_perm("users.delete_user")
