"""Fixtures for the rooms tests: a moderator as the brief defines one, and an owned room."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group

from rooms.models import Room
from users.models import User


@pytest.fixture
def make_moderator(make_user: Callable[..., User]) -> Callable[..., User]:
    """Staff in the "Moderators" group with role MODERATOR, not a superuser."""

    def make(username: str | None = None, **fields: Any) -> User:
        user = make_user(username, role=User.Role.MODERATOR, is_staff=True, **fields)
        user.groups.add(Group.objects.get(name="Moderators"))
        return user

    return make


@pytest.fixture
def moderator(make_moderator: Callable[..., User]) -> User:
    return make_moderator("mod")


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user("owner")


@pytest.fixture
def room(make_room: Callable[..., Room], owner: User) -> Room:
    return make_room("Jazz Club", owner=owner)
