"""The profile page shows the player's statistics and a chart of their last 30 days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from analytics.charts import activity_chart
from analytics.models import DailyActivity, UserStats
from analytics.services import DayActivity
from users.models import User


def test_chart_scales_bars_to_the_busiest_day() -> None:
    today = timezone.now().date()
    days = [DayActivity(today - timedelta(days=2 - i), notes=n) for i, n in enumerate([0, 50, 100])]
    chart = activity_chart(days)
    heights = [bar.height for bar in chart.bars]
    assert heights[0] == 0
    assert heights[2] == chart.height - 4
    assert heights[1] == heights[2] / 2
    assert chart.peak == 100
    assert "100 notes" in chart.bars[2].label


def test_profile_page_shows_totals_and_the_chart(make_user: Callable[..., User]) -> None:
    user = make_user()
    UserStats.objects.create(user=user, notes_played=1234, chat_messages=7, seconds_in_rooms=3725)
    DailyActivity.objects.create(user=user, date=timezone.now().date(), notes=321)
    client = Client()
    client.force_login(user)
    page = client.get("/accounts/profile/").content.decode()
    assert "1234" in page
    assert "1 h 2 min" in page
    assert page.count("<rect ") == 30
    assert "321 notes" in page
    assert "style=" not in page
