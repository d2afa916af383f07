"""A counter of the last minute, in one-second buckets: "notes per second" on the status page.

Pure and cheap (a list index and an addition per call), so the real-time hot path may call it.
"""

from __future__ import annotations

import time


class RollingCounter:
    """Counts added over the last ``window`` seconds, bucketed by whole second."""

    def __init__(self, window: int = 60) -> None:
        if window < 1:
            raise ValueError("window must be at least one second")
        self.window = window
        self._counts = [0] * window
        # The whole second each bucket currently counts; a stale bucket is reset on reuse.
        self._seconds = [-1] * window

    def add(self, amount: int = 1, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        index = second % self.window
        if self._seconds[index] != second:
            self._seconds[index] = second
            self._counts[index] = 0
        self._counts[index] += amount

    def total(self, now: float | None = None) -> int:
        """The sum over the last ``window`` seconds, the current one included."""
        second = int(time.monotonic() if now is None else now)
        oldest = second - self.window + 1
        return sum(
            count
            for count, stamp in zip(self._counts, self._seconds, strict=True)
            if oldest <= stamp <= second
        )

    def per_second(self, now: float | None = None) -> float:
        return self.total(now) / self.window
