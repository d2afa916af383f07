from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from foundation.db import database_sync_to_async
from realtime import lifecycle
from realtime.runtime import current_runtime
from rooms.models import Room
from tests.realtime.conftest import Connect, ConnectUser


@database_sync_to_async
def _age_rooms(*names: str) -> None:
    Room.objects.filter(name__in=names).update(updated_at=timezone.now() - timedelta(hours=1))


@database_sync_to_async
def _existing(*names: str) -> set[str]:
    return set(Room.objects.filter(name__in=names).values_list("name", flat=True))


async def test_sweep_deletes_stale_empty_rooms_only(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("busy", create_if_missing=True)
    await database_sync_to_async(Room.objects.create)(name="forgotten")
    await database_sync_to_async(Room.objects.create)(name="kept", persistent=True)
    await database_sync_to_async(Room.objects.create)(name="fresh")
    await _age_rooms("busy", "forgotten", "kept")
    runtime = current_runtime()
    assert runtime is not None
    runtime.next_room_sweep = 0.0
    await lifecycle.sweep_abandoned_rooms(runtime)
    assert await _existing("busy", "forgotten", "kept", "fresh") == {"busy", "kept", "fresh"}
