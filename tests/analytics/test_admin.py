"""The admin shows events and statistics, and lets nobody edit them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import timezone

from analytics.models import DailyActivity, Event, RoomStats, UserStats
from users.models import User


@pytest.fixture
def admin_client_for(make_user: Callable[..., User]) -> Client:
    admin = make_user("boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("event", "listed-player"),
        ("userstats", "listed-player"),
        ("roomstats", "listed-room"),
        ("dailyactivity", "(whole site)"),
    ],
)
def test_admin_lists_analytics_read_only(
    admin_client_for: Client, make_user: Callable[..., User], model: str, shown: str
) -> None:
    player = make_user("listed-player")
    Event.objects.create(kind=Event.Kind.LOGIN, user=player, created_at=timezone.now())
    UserStats.objects.create(user=player, notes_played=42)
    RoomStats.objects.create(room_id=uuid.uuid4(), room_name="listed-room", notes=5)
    DailyActivity.objects.create(date=timezone.now().date(), notes=9)

    listing = admin_client_for.get(f"/admin/analytics/{model}/")
    assert listing.status_code == 200
    assert shown in listing.content.decode()
    assert admin_client_for.get(f"/admin/analytics/{model}/add/").status_code == 403
