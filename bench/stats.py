"""Statistics of one load step: latency percentiles, loss and duplicates.

Pure (no I/O, no asyncio) so the arithmetic is unit-tested without servers
(tests/bench/test_stats.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ascending ``sorted_values``.

    Nearest rank (no interpolation): the reported p99 is a latency some delivery really had.
    NaN for no samples.
    """
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {q}")
    if not sorted_values:
        return math.nan
    rank = math.ceil(q / 100 * len(sorted_values))
    return float(sorted_values[max(rank, 1) - 1])


@dataclass
class LatencySummary:
    count: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Iterable[float]) -> LatencySummary:
        ordered = sorted(samples)
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 50),
            p90=percentile(ordered, 90),
            p99=percentile(ordered, 99),
            max=ordered[-1] if ordered else math.nan,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "p50_ms": round(self.p50, 3),
            "p90_ms": round(self.p90, 3),
            "p99_ms": round(self.p99, 3),
            "max_ms": round(self.max, 3),
        }


@dataclass
class SequenceTracker:
    """What one receiver got from each sender in one step, by the batches' sequence numbers.

    ``record`` returns False for a duplicate (that sender's sequence number seen before).
    """

    seen: dict[str, set[int]] = field(default_factory=dict)
    received: int = 0
    duplicates: int = 0

    def record(self, sender: str, seq: int) -> bool:
        self.received += 1
        numbers = self.seen.get(sender)
        if numbers is None:
            numbers = self.seen[sender] = set()
        if seq in numbers:
            self.duplicates += 1
            return False
        numbers.add(seq)
        return True

    @property
    def unique(self) -> int:
        return self.received - self.duplicates


def expected_deliveries(sent_by_room: dict[str, int], receivers_by_room: dict[str, int]) -> int:
    """How many deliveries the batches sent should make.

    Every batch goes to every counted receiver of its room except its sender, and every sender
    is itself a counted receiver of its room.
    """
    total = 0
    for room, sent in sent_by_room.items():
        total += sent * max(receivers_by_room.get(room, 0) - 1, 0)
    return total


@dataclass
class Delivery:
    expected: int
    delivered: int
    duplicates: int

    @property
    def lost(self) -> int:
        return max(self.expected - self.delivered, 0)

    @property
    def ratio(self) -> float:
        """Delivered / expected (1.0 when nothing was expected)."""
        return self.delivered / self.expected if self.expected else 1.0
