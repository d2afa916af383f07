"""The statistics REST API: a player's stats and 30 days, site totals, leaderboards."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import DailyActivity, UserStats
from analytics.stats import StatsRecorder
from users.models import User


def test_user_stats_show_exactly_what_was_flushed(
    recorder: StatsRecorder, make_user: Callable[..., User], api_client: APIClient
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    room = uuid.uuid4()
    for user in (alice, bob):
        recorder.record_session(user_id=user.pk)
        recorder.record_join(user_id=user.pk, room_id=room, room_name="jam")
    for _ in range(25):
        recorder.record_notes(10, user_id=alice.pk, room_id=room)  # 250 notes
        recorder.record_notes(10, user_id=bob.pk, room_id=room)
    for _ in range(3):
        recorder.record_chat(user_id=alice.pk, room_id=room)
    for _ in range(2):
        recorder.record_chat(user_id=bob.pk, room_id=room)
    recorder.record_leave(90, user_id=alice.pk, room_id=room)
    recorder.flush_now()

    body = api_client.get("/api/v1/users/ALICE/stats").json()
    assert body["username"] == "alice"
    assert body["notes_played"] == 250
    assert body["chat_messages"] == 3
    assert body["seconds_in_rooms"] == 90
    assert body["rooms_joined"] == 1
    assert body["sessions"] == 1
    assert body["last_seen"] is not None
    assert len(body["days"]) == 30
    assert body["days"][-1] == {
        "date": timezone.now().date().isoformat(),
        "notes": 250,
        "messages": 3,
        "seconds": 90,
        "joins": 1,
    }
    assert body["days"][0]["notes"] == 0

    site = api_client.get("/api/v1/stats").json()
    assert site["totals"] == {"notes": 500, "messages": 5, "seconds": 90, "joins": 2}
    assert site["today"]["notes"] == 500
    assert site["registered_users"] == 2
    assert set(site["live"]) == {"connections", "rooms", "members", "notes_per_second"}


def test_user_stats_history_covers_thirty_days_oldest_first(
    make_user: Callable[..., User], api_client: APIClient
) -> None:
    user = make_user("carol")
    today = timezone.now().date()
    DailyActivity.objects.create(user=user, date=today - timedelta(days=29), notes=5)
    DailyActivity.objects.create(user=user, date=today - timedelta(days=30), notes=99)  # too old
    days = api_client.get("/api/v1/users/carol/stats").json()["days"]
    assert days[0] == {
        "date": (today - timedelta(days=29)).isoformat(),
        "notes": 5,
        "messages": 0,
        "seconds": 0,
        "joins": 0,
    }
    assert sum(day["notes"] for day in days) == 5


def test_user_stats_of_a_player_who_never_played_are_zero(
    make_user: Callable[..., User], api_client: APIClient
) -> None:
    make_user("dave")
    body = api_client.get("/api/v1/users/dave/stats").json()
    assert body["notes_played"] == 0
    assert body["last_seen"] is None


def test_user_stats_of_unknown_user_is_404(api_client: APIClient, db: None) -> None:
    response = api_client.get("/api/v1/users/nobody/stats")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_leaderboard_ranks_by_each_metric(
    make_user: Callable[..., User], api_client: APIClient
) -> None:
    players = [make_user(f"p{i}") for i in range(3)]
    for rank, (user, notes, chat, seconds) in enumerate(
        zip(players, (10, 30, 20), (5, 1, 0), (7, 8, 9), strict=True)
    ):
        UserStats.objects.create(
            user=user, notes_played=notes, chat_messages=chat, seconds_in_rooms=seconds + rank
        )
    notes = api_client.get("/api/v1/leaderboard?metric=notes").json()
    assert notes["metric"] == "notes"
    assert [(r["rank"], r["username"], r["value"]) for r in notes["results"]] == [
        (1, "p1", 30),
        (2, "p2", 20),
        (3, "p0", 10),
    ]
    chat = api_client.get("/api/v1/leaderboard?metric=chat").json()["results"]
    assert [r["username"] for r in chat] == ["p0", "p1"]  # p2 never chatted
    time = api_client.get("/api/v1/leaderboard?metric=time").json()["results"]
    assert time[0]["username"] == "p2"


def test_leaderboard_shows_fifty_and_hides_inactive_accounts(
    api_client: APIClient, db: None
) -> None:
    users = User.objects.bulk_create(User(username=f"q{i:02}") for i in range(52))
    UserStats.objects.bulk_create(
        UserStats(user=user, notes_played=100 + i) for i, user in enumerate(users)
    )
    User.objects.filter(pk=users[-1].pk).update(is_active=False)
    results = api_client.get("/api/v1/leaderboard").json()["results"]
    assert len(results) == 50
    assert results[0]["username"] == "q50"


def test_leaderboard_with_unknown_metric_is_400(api_client: APIClient, db: None) -> None:
    response = api_client.get("/api/v1/leaderboard?metric=kills")
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_ARGUMENT"
    assert "notes" in response.json()["message"]
