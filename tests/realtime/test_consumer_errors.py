"""An unexpected exception inside the consumer: the player gets INTERNAL, the socket lives,
and Sentry captures it (issue 6) without the player's data."""

from __future__ import annotations

import pytest
import sentry_sdk

from realtime import handlers
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.analytics.conftest import CollectingTransport
from tests.analytics.conftest import sentry_transport as sentry_transport
from tests.realtime.conftest import Connect


async def test_exception_in_an_action_is_reported_to_sentry(
    connect: Connect,
    sentry_transport: CollectingTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(session: object, message: object) -> None:
        raise RuntimeError("the metronome fell over")

    monkeypatch.setitem(handlers.HANDLERS, "time_sync", broken)
    player = await connect()
    await player.join("lobby")
    await player.send(time_sync=pb.TimeSync(client_time=1.0))
    error = await player.expect("error")
    assert error.code == pb.ERROR_CODE_INTERNAL
    assert "metronome" not in error.message
    await player.send(chat=pb.ChatSend(text="still here"))
    assert (await player.expect("chat")).text == "still here"

    sentry_sdk.flush()
    events = sentry_transport.events()
    assert len(events) == 1
    assert events[0]["exception"]["values"][-1]["value"] == "the metronome fell over"
    assert "still here" not in sentry_transport.raw().decode(errors="replace")
