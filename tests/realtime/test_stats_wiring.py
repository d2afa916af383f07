"""Statistics and metrics fed by the real-time layer (issue 6): what players do over their
sockets shows, exactly, in the stats API once the write-behind flush has run, and in
/metrics at once."""

from __future__ import annotations

import re
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework.test import APIClient

from analytics import stats
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.realtime.conftest import ConnectUser, Player


def _get(path: str) -> dict[str, Any]:
    response = APIClient().get(path)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def _metric(name: str) -> float:
    text = Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match is not None, f"{name} not in /metrics"
    return float(match.group(1))


def _batch(count: int) -> pb.NoteBatch:
    notes = [pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=60, velocity=90)] * count
    return pb.NoteBatch(start_time=time.time() * 1000, notes=notes)


async def _chat(sender: Player, others: list[Player], text: str) -> None:
    await sender.send(chat=pb.ChatSend(text=text))
    for player in (sender, *others):
        assert (await player.expect("chat")).text == text


async def test_notes_and_chat_over_sockets_add_up_in_the_stats(connect_user: ConnectUser) -> None:
    alice = await connect_user()
    bob = await connect_user()
    await alice.join("studio", create_if_missing=True)
    await bob.join("studio")
    for _ in range(5):
        await alice.send(note_batch=_batch(100))
        assert len((await bob.expect("note_batch")).notes) == 100
    for n in range(3):
        await _chat(alice, [bob], f"alice {n}")
    for n in range(2):
        await _chat(bob, [alice], f"bob {n}")

    assert await stats.recorder.aflush()
    assert alice.account is not None
    assert bob.account is not None
    mine = await sync_to_async(_get)(f"/api/v1/users/{alice.account.username}/stats")
    theirs = await sync_to_async(_get)(f"/api/v1/users/{bob.account.username}/stats")
    site = await sync_to_async(_get)("/api/v1/stats")
    assert (mine["notes_played"], mine["chat_messages"], mine["rooms_joined"]) == (500, 3, 1)
    assert (theirs["notes_played"], theirs["chat_messages"]) == (0, 2)
    assert (site["totals"]["notes"], site["totals"]["messages"]) == (500, 5)


async def test_metrics_follow_connections_and_notes(connect_user: ConnectUser) -> None:
    connections = await sync_to_async(_metric)("pianorhythm_websocket_connections")
    relayed = await sync_to_async(_metric)("pianorhythm_note_events_relayed_total")
    alice = await connect_user()
    bob = await connect_user()
    assert await sync_to_async(_metric)("pianorhythm_websocket_connections") == connections + 2
    await alice.join("metered", create_if_missing=True)
    await bob.join("metered")
    await alice.send(note_batch=_batch(7))
    await bob.expect("note_batch")
    assert await sync_to_async(_metric)("pianorhythm_note_events_relayed_total") == relayed + 7
    await bob.close()
    assert await sync_to_async(_metric)("pianorhythm_websocket_connections") == connections + 1
