"""Shared fixtures: factories for users and rooms, and API clients."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from rooms.models import Room
from users.models import User

_counter = itertools.count(1)


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(
        username: str | None = None, password: str = "a-long-passphrase-1", **fields: Any
    ) -> User:
        name = username or f"player{next(_counter)}"
        return User.objects.create_user(username=name, password=password, **fields)

    return make


@pytest.fixture
def make_room(db: None) -> Callable[..., Room]:
    def make(name: str | None = None, **fields: Any) -> Room:
        return Room.objects.create(name=name or f"room-{next(_counter)}", **fields)

    return make


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def authed_client(make_user: Callable[..., User]) -> Callable[[User | None], APIClient]:
    """An API client logged in (forced authentication) as the given or a new user."""

    def make(user: User | None = None) -> APIClient:
        client = APIClient()
        client.force_authenticate(user or make_user())
        return client

    return make


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Throttle counters live in the cache; each test starts with none.
    from django.core.cache import caches

    for alias in ("default", "ephemeral"):
        caches[alias].clear()


@pytest.fixture(autouse=True)
def _fresh_statistics() -> Iterator[None]:
    # Statistics are counted in memory and written behind; a test sees only its own, and
    # nothing is left to be flushed into a test database that is gone.
    from analytics import stats

    stats.recorder.discard()
    yield
    stats.recorder.discard()
