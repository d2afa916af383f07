"""Note batches read too late to play are shed where they arrive: relayed with their
releases only, or not at all, counted in the metrics; lateness is measured against each
sender's own norm, so a client with a wrong clock, one that holds its notes before sending
or one that schedules ahead is relayed in full (realtime.lateness; docs/architecture.md,
Overload)."""

from __future__ import annotations

import pytest

from observability import metrics
from realtime import lateness as lateness_module
from realtime.lateness import (
    DRIFT_MS_PER_S,
    LATE_MS,
    LONG_RESET_SECONDS,
    RESET_SECONDS,
    ArrivalLag,
    releases_only,
)
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.realtime.conftest import Connect
from tests.realtime.test_consumer_play import now_ms, pair, play, relayed

ON, OFF = pb.NOTE_EVENT_TYPE_NOTE_ON, pb.NOTE_EVENT_TYPE_NOTE_OFF
PEDAL_UP = pb.NOTE_EVENT_TYPE_SUSTAIN_OFF


@pytest.fixture(autouse=True)
def process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own process-wide record of who was late."""
    monkeypatch.setattr(lateness_module, "_late_senders", lateness_module._LateSenders())


def late_on_arrival() -> float:
    return float(metrics.LATE_NOTES_SHED.labels("arrival")._value.get())


def lateness(lags: list[float], every: float = 0.05, start: float = 100.0) -> list[bool]:
    """Whether each of ``lags`` (ms) is late, one batch every ``every`` seconds."""
    arrival = ArrivalLag()
    return [arrival.late(lag, start + n * every) for n, lag in enumerate(lags)]


# --- the measure ------------------------------------------------------------------------------


def test_a_backlog_past_the_limit_is_late_and_its_end_is_not() -> None:
    # A sender on time, then its frames read from a growing backlog, then caught up.
    lags = [3.0, 5.0, 4.0, 90.0, 180.0, 203.0, 210.0, 450.0, 900.0, 6.0, 4.0]
    assert lateness(lags) == [False] * 6 + [True] * 3 + [False] * 2


@pytest.mark.parametrize(
    "lags",
    [
        [5_000.0 + n % 7 for n in range(200)],  # a clock five seconds behind the server's
        [float(n * 37 % 100) for n in range(200)],  # holds notes up to 100 ms (the web client)
        [-2_000.0 + n % 3 for n in range(200)],  # schedules two seconds ahead
        [-900.0, 150.0, -900.0, 180.0] * 50,  # ahead, then just behind: never 200 ms behind
    ],
    ids=["clock-behind", "held-notes", "ahead", "ahead-then-now"],
)
def test_a_senders_steady_lag_is_its_norm_and_never_late(lags: list[float]) -> None:
    assert not any(lateness(lags))


def test_the_first_batch_sets_the_norm_however_late_it_looks() -> None:
    assert lateness([3_000.0, 3_100.0, 3_300.0]) == [False, False, True]


def test_after_a_clock_correction_the_sender_is_heard_again_within_the_reset() -> None:
    arrival = ArrivalLag()
    now = 50.0
    for _ in range(20):
        assert not arrival.late(10.0, now)
        now += 0.1
    # The client's clock moved: its batches now read half a second later, for good.
    late: list[bool] = []
    while now < 60.0:
        late.append(arrival.late(510.0 + len(late) % 3, now))
        now += 0.1
    first_on_time = late.index(False)
    assert all(late[:first_on_time])
    assert not any(late[first_on_time:])
    assert first_on_time * 0.1 <= RESET_SECONDS + 0.1


def test_senders_late_together_are_the_process_load_not_their_clocks() -> None:
    # Two senders whose every batch is late at once: overload, so neither norm moves up in
    # the short reset; should their clocks really have moved together, the long one does.
    first, second = ArrivalLag(), ArrivalLag()
    assert not first.late(10.0, 0.0)
    assert not second.late(30.0, 0.0)
    now = 0.0
    heard: list[float] = []
    while now < LONG_RESET_SECONDS + 1.0:
        now += 0.05
        for sender, lag in ((first, 600.0), (second, 620.0)):
            if not sender.late(lag, now):
                heard.append(now)
    assert heard
    assert min(heard) >= LONG_RESET_SECONDS


def test_an_overloaded_process_keeps_shedding_without_taking_its_backlog_for_the_norm() -> None:
    # A minute of sustained overload as the process sees one sender: its backlog grows until
    # batches are shed, the shed ones cost nothing and it catches up to the edge, again and
    # again (a saw-tooth of lags just under and over the limit): some batches always pass.
    arrival = ArrivalLag()
    assert not arrival.late(5.0, 0.0)
    now, lag = 0.0, 5.0
    passed = shed = 0
    while now < 60.0:
        now += 0.02
        lag = lag + 40.0 if lag < 5.0 + LATE_MS + 100.0 else 5.0 + LATE_MS - 60.0
        if arrival.late(lag, now):
            shed += 1
        else:
            passed += 1
    assert passed > 500
    assert shed > 500
    # The norm rose by clock drift at most: a batch 300 ms behind the start is still late.
    assert arrival.late(5.0 + 60.0 * DRIFT_MS_PER_S + LATE_MS + 10.0, now + 0.02)


def test_the_limit_is_exclusive() -> None:
    assert lateness([0.0, LATE_MS]) == [False, False]
    assert lateness([0.0, LATE_MS + 0.5]) == [False, True]


def test_a_late_batch_keeps_its_releases_in_order() -> None:
    batch = pb.NoteBatch(
        start_time=1.7e12,
        notes=[
            pb.NoteEvent(type=ON, key=60, velocity=90),
            pb.NoteEvent(type=OFF, key=58, delay_ms=3),
            pb.NoteEvent(type=PEDAL_UP, delay_ms=4),
            pb.NoteEvent(type=ON, key=62, velocity=90, delay_ms=5),
        ],
    )
    kept = releases_only(batch)
    assert kept is not None
    assert kept.start_time == 1.7e12
    assert [(n.type, n.key, n.delay_ms) for n in kept.notes] == [(OFF, 58, 3), (PEDAL_UP, 0, 4)]
    assert releases_only(pb.NoteBatch(start_time=1.0, notes=[batch.notes[0]])) is None


# --- through the application ------------------------------------------------------------------


def events(batches: list[pb.RelayedNotes]) -> list[list[tuple[int, int]]]:
    return [[(note.type, note.key) for note in batch.notes] for batch in batches]


async def test_a_batch_read_too_late_to_play_is_relayed_with_its_releases_only(
    connect: Connect,
) -> None:
    alice, bob = await pair(connect)
    before = late_on_arrival()
    start = now_ms()
    await play(alice, [pb.NoteEvent(type=ON, key=60, velocity=80)], start)
    # Read a second after they began: as from a backlog the process could not keep up with.
    late = [
        pb.NoteEvent(type=ON, key=62, velocity=80),
        pb.NoteEvent(type=OFF, key=60, delay_ms=10),
    ]
    await play(alice, late, start - 1_000)
    await play(alice, [pb.NoteEvent(type=ON, key=64, velocity=80)], start - 900)
    await play(alice, [pb.NoteEvent(type=ON, key=65, velocity=80)])
    assert events(await relayed(bob)) == [[(ON, 60)], [(OFF, 60)], [(ON, 65)]]
    assert late_on_arrival() == before + 2


async def test_a_client_whose_clock_is_behind_is_relayed_in_full(connect: Connect) -> None:
    alice, bob = await pair(connect)
    before = late_on_arrival()
    for key in range(60, 66):
        await play(alice, [pb.NoteEvent(type=ON, key=key, velocity=80)], now_ms() - 4_000)
    assert events(await relayed(bob)) == [[(ON, key)] for key in range(60, 66)]
    assert late_on_arrival() == before


async def test_a_client_whose_clock_is_near_the_usable_limit_is_relayed_in_full(
    connect: Connect,
) -> None:
    # Some of its batches are over 10 s off and are played "now" (validation): they must not
    # become the norm that the others are measured against.
    alice, bob = await pair(connect)
    before = late_on_arrival()
    for key in range(60, 72):
        behind = 9_960 + (key % 3) * 40  # 9.96, 10.0 and 10.04 s behind
        await play(alice, [pb.NoteEvent(type=ON, key=key, velocity=80)], now_ms() - behind)
    assert events(await relayed(bob)) == [[(ON, key)] for key in range(60, 72)]
    assert late_on_arrival() == before


async def test_a_client_scheduling_ahead_is_relayed_in_full(connect: Connect) -> None:
    alice, bob = await pair(connect)
    before = late_on_arrival()
    for key in range(60, 66):
        ahead = 3_000 if key % 2 else 0
        await play(alice, [pb.NoteEvent(type=ON, key=key, velocity=80)], now_ms() + ahead)
    assert events(await relayed(bob)) == [[(ON, key)] for key in range(60, 66)]
    assert late_on_arrival() == before
