"""Events recorded from other apps' signals: accounts, rooms and moderation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from analytics.models import Event
from moderation.models import ModerationAction
from rooms import services as rooms
from rooms.models import Room
from users.models import User

PASSWORD = "a-long-passphrase-1"
Capture = Callable[..., Any]


def kinds() -> list[str]:
    return list(Event.objects.order_by("id").values_list("kind", flat=True))


def test_registration_and_token_login_are_recorded(
    api_client: APIClient, django_capture_on_commit_callbacks: Capture, db: None
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        registered = api_client.post(
            "/api/v1/auth/register", {"username": "newbie", "password": PASSWORD}, format="json"
        )
        assert registered.status_code == 201
        login = api_client.post(
            "/api/v1/auth/token", {"username": "newbie", "password": PASSWORD}, format="json"
        )
        assert login.status_code == 200
    user = User.objects.get(username="newbie")
    assert kinds() == [Event.Kind.REGISTRATION, Event.Kind.LOGIN]
    assert set(Event.objects.values_list("user_id", flat=True)) == {user.pk}


def test_failed_login_records_nothing(
    api_client: APIClient,
    make_user: Callable[..., User],
    django_capture_on_commit_callbacks: Capture,
) -> None:
    make_user("someone")
    Event.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post(
            "/api/v1/auth/token", {"username": "someone", "password": "wrong"}, format="json"
        )
    assert kinds() == []


def test_session_login_and_logout_are_recorded_once_each(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Capture
) -> None:
    user = make_user("pianist")
    Event.objects.all().delete()
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.login(username="pianist", password=PASSWORD)
        client.post("/accounts/logout/")
    assert kinds() == [Event.Kind.LOGIN, Event.Kind.LOGOUT]
    assert Event.objects.filter(user=user).count() == 2


def test_room_lifecycle_and_moderation_are_recorded(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Capture
) -> None:
    owner, target = make_user(), make_user()
    Event.objects.all().delete()
    source = ModerationAction.Source.API
    with django_capture_on_commit_callbacks(execute=True):
        room = rooms.create_room(owner, {"name": "Jazz Bar"})
        room_id = room.pk
        rooms.ban_from_room(owner, room, target_user=target, reason="spam", source=source)
        rooms.close_room(owner, room, source)
    assert kinds() == [
        Event.Kind.ROOM_CREATED,
        Event.Kind.MODERATION,
        Event.Kind.MODERATION,
        Event.Kind.ROOM_DELETED,
    ]
    created = Event.objects.get(kind=Event.Kind.ROOM_CREATED)
    assert (created.room_id, created.room_name, created.user_id) == (room_id, "Jazz Bar", owner.pk)
    ban, close = Event.objects.filter(kind=Event.Kind.MODERATION).order_by("id")
    assert ban.data["action"] == "BAN"
    assert ban.data["target_user_id"] == target.pk
    assert close.data["action"] == "CLOSE_ROOM"
    assert Event.objects.get(kind=Event.Kind.ROOM_DELETED).room_id == room_id
    assert not Room.objects.filter(pk=room_id).exists()


def test_a_rolled_back_change_records_no_event(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Capture
) -> None:
    owner = make_user()
    Event.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rooms.create_room(owner, {"name": "Never"})
    assert callbacks  # queued for the commit...
    assert kinds() == []  # ...and nothing written before it


@pytest.mark.parametrize("kind", ["nonsense", ""])
def test_record_event_refuses_unknown_kinds(kind: str, db: None) -> None:
    from analytics.services import record_event

    with pytest.raises(ValueError, match="unknown event kind"):
        record_event(kind)
