from __future__ import annotations

from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from tests.realtime.conftest import Connect


def _listed_count(name: str) -> int:
    rooms = APIClient().get("/api/v1/rooms/").json()["results"]
    count: int = next(room["member_count"] for room in rooms if room["name"] == name)
    return count


async def test_rest_room_list_shows_live_member_counts(connect: Connect) -> None:
    alice = await connect()
    bob = await connect()
    await alice.join("lobby")
    await bob.join("lobby")
    assert await sync_to_async(_listed_count)("lobby") == 2
    await bob.close()
    assert await sync_to_async(_listed_count)("lobby") == 1
