"""The profile page's activity chart, drawn on the server as SVG: no script, nothing inline
for the Content-Security-Policy to refuse, readable without JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analytics.services import DayActivity

WIDTH = 600
HEIGHT = 120
GAP = 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    first_day: str
    last_day: str


def activity_chart(days: Sequence[DayActivity]) -> Chart:
    """One bar per day, its height the notes played that day, scaled to the busiest day."""
    peak = max((day.notes for day in days), default=0)
    slot = WIDTH / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        height = (day.notes / peak) * (HEIGHT - 4) if peak else 0.0
        minutes = day.seconds // 60
        label = (
            f"{day.date:%a %d %b}: {day.notes} notes, {day.messages} messages, "
            f"{minutes} min in rooms"
        )
        bars.append(
            Bar(
                x=round(index * slot + GAP / 2, 1),
                y=round(HEIGHT - height, 1),
                width=round(slot - GAP, 1),
                height=round(height, 1),
                label=label,
            )
        )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        peak=peak,
        first_day=f"{days[0].date:%d %b}" if days else "",
        last_day=f"{days[-1].date:%d %b}" if days else "",
    )
