"""Per-socket limits through the full ASGI application: frame size, floods, slow readers,
idle sockets, and failures inside an action (docs/protocol.md, Limits and Close codes)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from realtime import handlers, lifecycle, session
from realtime.closing import CloseCode
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.runtime import current_runtime
from realtime.session import PlayerSession
from tests.realtime.conftest import Connect, Player


def batch(key: int = 60) -> pb.ClientMessage:
    note = pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=key, velocity=64)
    return pb.ClientMessage(note_batch=pb.NoteBatch(start_time=time.time() * 1000, notes=[note]))


def live_session(player: Player) -> PlayerSession:
    runtime = current_runtime()
    assert runtime is not None
    for socket in runtime.hub.local_sockets():
        if isinstance(socket, PlayerSession) and socket.session_id == player.session_id:
            return socket
    raise AssertionError(f"no live session {player.session_id}")


async def trio(connect: Connect) -> tuple[Player, Player, Player]:
    players = (await connect(), await connect(), await connect())
    for player in players:
        await player.join()
    for player in players:
        await player.drain(0.05)
    return players


# --- frame size ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytes", "text"])
async def test_2_mib_frame_closes_the_socket_with_1009(
    connect: Connect, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    sender, listener, _ = await trio(connect)
    huge = 2 * 1024 * 1024
    if kind == "bytes":
        await sender.ws.send_to(bytes_data=b"\x1a" + b"\xff" * huge)
    else:
        await sender.ws.send_to(text_data='{"chat": {"text": "' + "a" * huge + '"}}')
    assert await sender.expect_close() == 1009
    assert not [m for m in await listener.drain(0.1) if m.HasField("chat")]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_frame_just_over_64_kib_is_too_large_but_a_full_batch_is_not(
    connect: Connect,
) -> None:
    sender, listener, _ = await trio(connect)
    notes = [pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=127, velocity=127, delay_ms=999)]
    full = pb.ClientMessage(
        note_batch=pb.NoteBatch(start_time=time.time() * 1000, notes=notes * 300)
    )
    await sender.ws.send_to(bytes_data=full.SerializeToString())
    assert len((await listener.expect("note_batch")).notes) == 300
    await sender.ws.send_to(bytes_data=b"\x00" * (64 * 1024 + 1))
    assert await sender.expect_close() == 1009


# --- floods -------------------------------------------------------------------


async def test_flood_is_rate_limited_then_closed_with_4429_and_nothing_more_relayed(
    connect: Connect,
) -> None:
    flooder, listener, bystander = await trio(connect)
    frame = batch().SerializeToString()
    for _ in range(1500):
        await flooder.ws.send_to(bytes_data=frame)
    assert await flooder.expect_close(timeout=5) == 4429
    errors = [m.error.code for m in flooder.seen if m.HasField("error")]
    assert pb.ERROR_CODE_RATE_LIMITED in errors
    # At most the burst the flood guard lets through was relayed...
    relayed = [m for m in await listener.drain(0.3) if m.HasField("note_batch")]
    assert 0 < len(relayed) <= 450
    # ...and nothing it sends after the verdict is.
    for _ in range(50):
        await flooder.ws.send_to(bytes_data=frame)
    assert not [m for m in await listener.drain(0.2) if m.HasField("note_batch")]
    # The room carries on for everyone else.
    await bystander.ws.send_to(bytes_data=batch(61).SerializeToString())
    assert (await listener.expect("note_batch")).session_id == bystander.session_id


async def test_brief_overshoot_is_answered_with_rate_limited_without_closing(
    connect: Connect,
) -> None:
    player = await connect()
    frame = pb.ClientMessage(time_sync=pb.TimeSync(client_time=1)).SerializeToString()
    for _ in range(450):
        await player.ws.send_to(bytes_data=frame)
    heard = await player.drain(0.5)
    rate_limited = [m for m in heard if m.HasField("error")]
    assert [e.error.code for e in rate_limited][:1] == [pb.ERROR_CODE_RATE_LIMITED]
    assert 400 <= len([m for m in heard if m.HasField("time_sync")]) < 450
    # Once the bucket refills the socket is served again.
    await asyncio.sleep(0.3)
    await player.send(time_sync=pb.TimeSync(client_time=2))
    assert (await player.expect("time_sync")).client_time == 2


# --- slow readers ----------------------------------------------------------------


async def test_reader_that_falls_behind_is_disconnected_and_others_keep_receiving(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "OUTBOX_LIMIT", 20)
    sender, stuck, healthy = await trio(connect)
    never = asyncio.Event()

    async def socket_that_does_not_drain(frame: bytes | str) -> None:
        await never.wait()  # a peer that stopped reading: the send never completes

    monkeypatch.setattr(live_session(stuck), "_send_frame", socket_that_does_not_drain)
    for n in range(40):
        await sender.ws.send_to(bytes_data=batch(20 + n).SerializeToString())
    assert await stuck.expect_close() == CloseCode.POLICY_VIOLATION
    keys = [m.note_batch.notes[0].key for m in await healthy.drain(0.3) if m.HasField("note_batch")]
    assert keys == [20 + n for n in range(40)]
    # The consumer's disconnect takes the slow reader out of the room.
    await stuck.ws.disconnect()
    assert (await healthy.expect("member_left")).session_id == stuck.session_id
    await sender.ws.send_to(bytes_data=batch(100).SerializeToString())
    assert (await healthy.expect("note_batch")).notes[0].key == 100


# --- idle sockets ---------------------------------------------------------------------------------


async def test_idle_socket_is_closed_with_4408_and_active_ones_are_not(
    connect: Connect, settings: Any
) -> None:
    settings.REALTIME_IDLE_SECONDS = 0.2
    active, idle = await connect(), await connect()
    await asyncio.sleep(0.25)
    await active.send(time_sync=pb.TimeSync(client_time=1))
    await active.expect("time_sync")
    runtime = current_runtime()
    assert runtime is not None
    assert runtime.on_tick is lifecycle.on_tick  # each heartbeat runs close_idle_sessions
    await lifecycle.close_idle_sessions(runtime)
    assert await idle.expect_close() == 4408
    assert await active.drain(0.1) == []


# --- failures inside an action --------------------------------------------------------------------


async def test_unexpected_failure_is_internal_and_the_socket_lives(
    connect: Connect, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(session: PlayerSession, message: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setitem(handlers.HANDLERS, "cursor", broken)
    player = await connect()
    await player.send(cursor=pb.Cursor(x=1, y=1))
    error = await player.expect("error")
    assert (error.code, error.request) == (pb.ERROR_CODE_INTERNAL, "cursor")
    assert "secret" not in error.message
    await player.send(time_sync=pb.TimeSync(client_time=3))
    assert (await player.expect("time_sync")).client_time == 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "real-time cursor failed for "
        + str(
            {
                "session": player.session_id,
                "user": player.user.id if player.user else "",
                "room": None,
            }
        )
    ]
