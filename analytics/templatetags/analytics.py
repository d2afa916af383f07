"""Analytics' parts of other apps' pages, so those apps need not import analytics."""

from __future__ import annotations

from typing import Any

from django import template

from analytics.charts import activity_chart
from analytics.services import user_stats
from users.models import User

register = template.Library()


@register.inclusion_tag("analytics/player_stats.html")
def player_stats(user: User) -> dict[str, Any]:
    """The profile page's "Your playing": a player's totals and their last 30 days' chart."""
    stats = user_stats(user.username)
    return {"stats": stats, "chart": activity_chart(stats.days)}
