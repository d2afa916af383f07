"""Statistics across real server processes (issue 6): counts from two instances add up in
one database, and SIGTERM writes what is still in memory."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

import pytest

from realtime.client import PianoClient, note_event
from tests.e2e.conftest import RedisServer, ServerProcess
from tests.e2e.test_multi_instance import create_room, register

pytestmark = pytest.mark.e2e


def _site_notes(server: ServerProcess) -> int:
    status, body = server.request("GET", "/api/v1/stats")
    assert status == 200, body
    notes: int = body["totals"]["notes"]
    return notes


async def _wait_for_notes(server: ServerProcess, expected: int, within: float) -> int:
    deadline = time.monotonic() + within
    seen = _site_notes(server)
    while seen != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        seen = _site_notes(server)
    return seen


async def _play(client: PianoClient, listener: PianoClient, batches: int, size: int) -> None:
    notes = [note_event("NOTE_ON", 60 + i % 12, 80) for i in range(size)]
    for _ in range(batches):
        await client.send_notes(notes)
        await listener.next_message(
            "note_batch", timeout=10, where=lambda m: m.note_batch.session_id == client.session_id
        )


async def test_two_instances_add_up_in_the_stats(
    server_process: Callable[..., ServerProcess], redis_server: RedisServer
) -> None:
    env = {"REDIS_URL": redis_server.url, "STATS_FLUSH_SECONDS": "0.5"}
    a, b = server_process(env), server_process(env)
    room = create_room(a, register(a, "statshost"), unlimited_notes=True)
    async with (
        PianoClient.connect(a.ws_url) as on_a,
        PianoClient.connect(b.ws_url) as on_b,
    ):
        await on_a.join(room)
        await on_b.join(room)
        await _play(on_a, on_b, batches=3, size=100)
        await _play(on_b, on_a, batches=2, size=100)
    assert await _wait_for_notes(a, 500, within=15) == 500


async def test_sigterm_writes_pending_statistics(
    server_process: Callable[..., ServerProcess],
) -> None:
    # Counters are written every 10 s: only the shutdown flush can save these in time.
    playing = server_process({"STATS_FLUSH_SECONDS": "10"})
    room = create_room(playing, register(playing, "termhost"), unlimited_notes=True)
    async with (
        PianoClient.connect(playing.ws_url) as player,
        PianoClient.connect(playing.ws_url) as listener,
    ):
        await player.join(room)
        await listener.join(room)
        await _play(player, listener, batches=2, size=50)
        assert _site_notes(playing) == 0
        assert playing.proc is not None
        playing.kill(signal.SIGTERM)
        playing.proc.wait(timeout=20)
    reader = server_process()
    assert _site_notes(reader) == 100
