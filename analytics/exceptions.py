"""Domain errors of the analytics app."""

from __future__ import annotations

from foundation.exceptions import InvalidArgumentError


class UnknownMetricError(InvalidArgumentError):
    code = "INVALID_ARGUMENT"
    default_message = "Unknown leaderboard metric; use notes, chat or time."
