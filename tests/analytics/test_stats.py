"""The write-behind recorder: counts in memory, one batched flush, increments that add up."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics import stats
from analytics.models import DailyActivity, Event, RoomStats, UserStats
from analytics.stats import StatsRecorder
from foundation.db import database_sync_to_async
from users.models import User

ROOM = uuid.uuid4()


def test_thousand_note_batches_make_one_flush_with_the_totals(
    recorder: StatsRecorder, make_user: Callable[..., User]
) -> None:
    user = make_user()
    with CaptureQueriesContext(connection) as recording:
        for _ in range(1000):
            recorder.record_notes(3, user_id=user.pk, room_id=ROOM, room_name="jam")
    assert len(recording.captured_queries) == 0  # nothing written while counting

    assert recorder.flush_now() is True
    assert recorder.flushes == 1
    assert recorder.flush_now() is False  # nothing left
    stats_row = UserStats.objects.get(user=user)
    assert stats_row.notes_played == 3000
    assert stats_row.last_seen is not None
    assert RoomStats.objects.get(room_id=ROOM).notes == 3000
    today = timezone.now().date()
    assert DailyActivity.objects.get(user=user, date=today).notes == 3000
    assert DailyActivity.objects.get(user__isnull=True, date=today).notes == 3000


def test_two_recorders_flushing_into_one_database_add_up(
    make_user: Callable[..., User],
) -> None:
    user = make_user()
    first, second = StatsRecorder(), StatsRecorder()
    for recorder in (first, second):
        recorder.record_notes(250, user_id=user.pk, room_id=ROOM, room_name="jam")
        for _ in range(5):
            recorder.record_chat(user_id=user.pk, room_id=ROOM)
        recorder.record_join(user_id=user.pk, room_id=ROOM, room_name="jam", members=4)
        recorder.record_leave(30.4, user_id=user.pk, room_id=ROOM, room_name="jam")
        recorder.record_session(user_id=user.pk)
    second.record_peak(ROOM, 9)
    first.flush_now()
    second.flush_now()

    row = UserStats.objects.get(user=user)
    assert (row.notes_played, row.chat_messages, row.rooms_joined, row.sessions) == (
        500,
        10,
        2,
        2,
    )
    assert row.seconds_in_rooms == 60
    room = RoomStats.objects.get(room_id=ROOM)
    assert (room.notes, room.messages, room.peak_members, room.room_name) == (500, 10, 9, "jam")
    site = DailyActivity.objects.get(user__isnull=True)
    assert (site.notes, site.messages, site.joins, site.seconds) == (500, 10, 2, 60)
    assert Event.objects.filter(kind=Event.Kind.JOIN, user=user).count() == 2
    leaves = Event.objects.filter(kind=Event.Kind.LEAVE, user=user)
    assert [event.data for event in leaves] == [{"seconds": 30.4}] * 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_flushes_creating_the_same_rows_add_up() -> None:
    user = User.objects.create_user(username="racer", password="a-long-passphrase-1")
    recorders = [StatsRecorder() for _ in range(4)]
    for recorder in recorders:
        recorder.record_notes(100, user_id=user.pk, room_id=ROOM)
    start = threading.Barrier(len(recorders))
    errors: list[BaseException] = []

    def flush(recorder: StatsRecorder) -> None:
        try:
            start.wait()
            recorder.flush_now()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=flush, args=(r,)) for r in recorders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert UserStats.objects.get(user=user).notes_played == 400
    assert RoomStats.objects.get(room_id=ROOM).notes == 400
    assert DailyActivity.objects.get(user__isnull=True).notes == 400


def test_guest_notes_count_for_the_site_and_room_only(recorder: StatsRecorder, db: None) -> None:
    recorder.record_notes(40, user_id=None, room_id=ROOM)
    recorder.flush_now()
    assert not UserStats.objects.exists()
    assert DailyActivity.objects.get(user__isnull=True).notes == 40
    assert RoomStats.objects.get(room_id=ROOM).notes == 40


def test_a_failed_flush_keeps_the_counts_for_the_next(
    recorder: StatsRecorder, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    recorder.record_notes(10, user_id=user.pk)

    def broken(*args: object) -> None:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(stats, "write_pending", broken)
    with pytest.raises(RuntimeError):
        recorder.flush_now()
    recorder.record_notes(5, user_id=user.pk)
    monkeypatch.undo()
    recorder.flush_now()
    assert UserStats.objects.get(user=user).notes_played == 15


def test_counts_of_a_deleted_account_are_dropped_not_failed(
    recorder: StatsRecorder, make_user: Callable[..., User]
) -> None:
    gone, kept = make_user(), make_user()
    recorder.record_join(user_id=gone.pk, room_id=ROOM, room_name="jam")
    recorder.record_notes(7, user_id=gone.pk)
    recorder.record_notes(3, user_id=kept.pk)
    gone.delete()
    recorder.flush_now()
    assert UserStats.objects.get(user=kept).notes_played == 3
    assert not UserStats.objects.filter(user_id=gone.pk).exists()
    assert Event.objects.get(kind=Event.Kind.JOIN).user_id is None
    assert DailyActivity.objects.get(user__isnull=True).notes == 10


@pytest.mark.django_db(transaction=True)
async def test_flusher_task_writes_without_being_asked(recorder: StatsRecorder) -> None:
    recorder.record_notes(12, room_id=ROOM)  # starts the flusher of this event loop
    for _ in range(100):
        await asyncio.sleep(0.05)
        if recorder.flushes:
            break
    await recorder.stop()
    assert recorder.flushes >= 1
    note_count = await RoomStats.objects.filter(room_id=ROOM).values_list("notes", flat=True).aget()
    # The worker thread's connection would keep PostgreSQL's test database from being dropped.
    await database_sync_to_async(connections.close_all)()
    assert note_count == 12


def test_flush_at_exit_writes_what_is_pending(
    make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    fresh = StatsRecorder()
    monkeypatch.setattr(stats, "recorder", fresh)
    fresh.record_chat(user_id=user.pk)
    stats.flush_at_exit()
    assert UserStats.objects.get(user=user).chat_messages == 1
