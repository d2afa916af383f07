"""Past what a process can carry, a socket's writer falls behind: note batches that waited
over LATE_SECONDS in its outbox go out with their releases only (so no key is left
sounding), or not at all, counted in the metrics; everything else goes out as it was, in
order (docs/architecture.md, Overload)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from observability import metrics
from realtime import session as session_module
from realtime.codec import EncodedMessage, Encoding
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.session import PlayerSession
from tests.realtime.test_frame_limits import Socket, decode, session_on

ON, OFF = pb.NOTE_EVENT_TYPE_NOTE_ON, pb.NOTE_EVENT_TYPE_NOTE_OFF
PEDAL_UP = pb.NOTE_EVENT_TYPE_SUSTAIN_OFF


def batch(*events: tuple[Any, int]) -> EncodedMessage:
    notes = [pb.NoteEvent(type=kind, key=key, velocity=64) for kind, key in events]
    return EncodedMessage(
        pb.ServerMessage(note_batch=pb.RelayedNotes(session_id="s", start_time=1.0, notes=notes))
    )


def chat(text: str) -> EncodedMessage:
    return EncodedMessage(pb.ServerMessage(chat=pb.ChatMessage(text=text)))


class Clock:
    """``time`` as realtime.session sees it, with monotonic time moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(session_module, "time", clock)
    return clock


def shed_so_far() -> float:
    return float(metrics.LATE_NOTES_SHED.labels("outbox")._value.get())


async def sent_after_writing(socket: Socket, session: PlayerSession) -> list[pb.ServerMessage]:
    session.start()
    await asyncio.sleep(0.05)
    session.stop()
    return [m for frame in socket.frames for m in decode(session.encoding, frame)]


@pytest.mark.parametrize("encoding", list(Encoding))
async def test_late_note_batches_keep_only_their_releases(clock: Clock, encoding: Any) -> None:
    socket = Socket()
    session = session_on(socket, encoding, [])
    before = shed_so_far()
    session.deliver(batch((ON, 60), (ON, 64)))  # nothing worth sending late
    session.deliver(chat("still said"))
    session.deliver(batch((ON, 67), (OFF, 60), (PEDAL_UP, 0)))  # the releases go
    session.deliver(batch((OFF, 64)))  # only releases: as it was
    clock.now += session_module.LATE_SECONDS + 0.05
    session.deliver(batch((ON, 72)))  # queued just now: in time
    sent = await sent_after_writing(socket, session)

    def keys(message: pb.ServerMessage) -> list[tuple[int, int]]:
        return [(n.type, n.key) for n in message.note_batch.notes]

    assert [m.WhichOneof("kind") for m in sent] == [
        "chat",
        "note_batch",
        "note_batch",
        "note_batch",
    ]
    assert sent[0].chat.text == "still said"
    assert [keys(m) for m in sent[1:]] == [[(OFF, 60), (PEDAL_UP, 0)], [(OFF, 64)], [(ON, 72)]]
    assert sent[1].note_batch.session_id == "s"
    assert sent[1].note_batch.start_time == 1.0
    assert shed_so_far() == before + 2


async def test_nothing_is_shed_while_the_writer_keeps_up(clock: Clock) -> None:
    socket = Socket()
    session = session_on(socket, Encoding.PROTO, [])
    before = shed_so_far()
    for n in range(50):
        session.deliver(batch((ON, 40 + n % 40)))
        clock.now += session_module.LATE_SECONDS / 10  # all 50 span 1 s, none waits long
        await asyncio.sleep(0)
        if n == 0:
            session.start()
    await asyncio.sleep(0.05)
    session.stop()
    sent = [m for frame in socket.frames for m in decode(Encoding.PROTO, frame)]
    assert len(sent) == 50
    assert shed_so_far() == before


async def test_a_broadcast_is_cut_once_for_all_its_late_recipients(clock: Clock) -> None:
    message = batch((ON, 60), (OFF, 61))
    sockets = [Socket() for _ in range(20)]
    sessions = [session_on(socket, Encoding.PROTO, []) for socket in sockets]
    for session in sessions:
        session.deliver(message)
    clock.now += 1
    late = message.late()
    assert late is not None
    assert message.late() is late  # built once, shared by every recipient
    for socket, session in zip(sockets, sessions, strict=True):
        sent = await sent_after_writing(socket, session)
        assert [n.key for n in sent[0].note_batch.notes] == [61]
