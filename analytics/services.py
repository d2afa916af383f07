"""Use cases of the analytics app: recording events and reading statistics.

Counters are written by ``analytics.stats`` (write-behind); this module writes the rare events
(logins, rooms created...) at once and answers the REST API's questions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from analytics.exceptions import UnknownMetricError
from analytics.models import DailyActivity, Event, UserStats
from observability.metrics import LiveNumbers, live_numbers
from rooms.models import Room
from users import services as users
from users.models import User

HISTORY_DAYS = 30
LEADERBOARD_SIZE = 50
#: Leaderboard metric name → UserStats field.
LEADERBOARD_METRICS = {
    "notes": "notes_played",
    "chat": "chat_messages",
    "time": "seconds_in_rooms",
}
_DAY_FIELDS = ("notes", "messages", "seconds", "joins")


def record_event(
    kind: str,
    *,
    user_id: int | None = None,
    guest_id: str = "",
    room_id: uuid.UUID | str | None = None,
    room_name: str = "",
    data: dict[str, Any] | None = None,
) -> Event:
    """Store one event now (for rare events; joins and leaves go through ``analytics.stats``)."""
    if kind not in Event.Kind.values:
        raise ValueError(f"unknown event kind {kind!r}")
    return Event.objects.create(
        kind=kind,
        user_id=user_id,
        guest_id=guest_id,
        room_id=room_id or None,
        room_name=room_name,
        data=data or {},
        created_at=timezone.now(),
    )


# --- Reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayActivity:
    date: date
    notes: int = 0
    messages: int = 0
    seconds: int = 0
    joins: int = 0


@dataclass(frozen=True)
class PlayerStats:
    user: User
    notes_played: int
    chat_messages: int
    seconds_in_rooms: int
    rooms_joined: int
    sessions: int
    last_seen: datetime | None
    days: list[DayActivity]


def _history(user: User, today: date) -> list[DayActivity]:
    first = today - timedelta(days=HISTORY_DAYS - 1)
    stored = {
        row.date: row
        for row in DailyActivity.objects.filter(user=user, date__gte=first, date__lte=today)
    }
    days = []
    for offset in range(HISTORY_DAYS):
        day = first + timedelta(days=offset)
        row = stored.get(day)
        if row is None:
            days.append(DayActivity(day))
        else:
            days.append(DayActivity(day, row.notes, row.messages, row.seconds, row.joins))
    return days


def user_stats(username: str) -> PlayerStats:
    """A player's totals and their last 30 days (oldest first, a zero for quiet days)."""
    user = users.get_public_profile(username)  # NotFoundError for unknown or inactive users
    stats = UserStats.objects.filter(user=user).first() or UserStats(user=user)
    return PlayerStats(
        user=user,
        notes_played=stats.notes_played,
        chat_messages=stats.chat_messages,
        seconds_in_rooms=stats.seconds_in_rooms,
        rooms_joined=stats.rooms_joined,
        sessions=stats.sessions,
        last_seen=stats.last_seen,
        days=_history(user, timezone.now().date()),
    )


@dataclass(frozen=True)
class SiteStats:
    totals: DayActivity  # its date is today's
    today: DayActivity
    registered_users: int
    rooms: int
    live: LiveNumbers


def site_stats() -> SiteStats:
    """The whole site: all-time totals, today, accounts and rooms, and this process's live
    numbers."""
    today = timezone.now().date()
    site_days = DailyActivity.objects.filter(user__isnull=True)
    sums = site_days.aggregate(**{name: Sum(name) for name in _DAY_FIELDS})
    row = site_days.filter(date=today).first()
    return SiteStats(
        totals=DayActivity(today, **{name: sums[name] or 0 for name in _DAY_FIELDS}),
        today=DayActivity(today, row.notes, row.messages, row.seconds, row.joins)
        if row
        else DayActivity(today),
        registered_users=User.objects.filter(is_active=True).exclude(role=User.Role.GUEST).count(),
        rooms=Room.objects.count(),
        live=live_numbers(),
    )


def check_metric(metric: str) -> str:
    """The UserStats field a leaderboard metric sorts on; UnknownMetricError otherwise."""
    field = LEADERBOARD_METRICS.get(metric)
    if field is None:
        raise UnknownMetricError()
    return field


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    username: str
    display_name: str
    color: str
    value: int


def leaderboard(metric: str, limit: int = LEADERBOARD_SIZE) -> list[LeaderboardRow]:
    """The top players by notes, chat messages or time in rooms (ties: earliest account)."""
    field = check_metric(metric)
    rows = (
        UserStats.objects.filter(user__is_active=True, **{f"{field}__gt": 0})
        .select_related("user")
        .order_by(f"-{field}", "user_id")[:limit]
    )
    return [
        LeaderboardRow(
            rank=index,
            username=row.user.username,
            display_name=row.user.shown_name,
            color=row.user.color,
            value=getattr(row, field),
        )
        for index, row in enumerate(rows, start=1)
    ]
