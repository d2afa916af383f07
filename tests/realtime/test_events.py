"""Control events cross processes as their wire form and come back the same."""

from __future__ import annotations

import json
from typing import Any

import pytest

from realtime import control, events
from realtime import hub as hub_module
from realtime.codec import EncodedMessage
from realtime.events import (
    ControlEvent,
    CredentialsRevoked,
    CrownPassed,
    IdentityChanged,
    MuteChanged,
    Removed,
    RoomChanged,
    SiteBanned,
)
from realtime.hub import EVERYWHERE, Hub, room_topic
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

#: One event of every kind, with every field set.
EXAMPLES: list[ControlEvent] = [
    Removed(reason="BANNED", user_id="42", message="Not here.", until=1_700_000_000_000.0),
    SiteBanned(user_id="42", until=1_700_000_000_000.0),
    CredentialsRevoked(user_id="42", session_key="abc", token_family="fam"),
    IdentityChanged(user_id="42"),
    CrownPassed(crown="g-0123456789abcdef", owner_user_id="42"),
    RoomChanged(name="Jazz", has_password=True, settings={"max_members": 12, "is_public": False}),
    MuteChanged(user_id="g-0123456789abcdef", muted=True, until=1_700_000_000_000.0),
]


def test_there_is_an_example_of_every_kind() -> None:
    assert {type(event) for event in EXAMPLES} == set(events.EVENT_TYPES.values())


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: type(event).__name__)
def test_an_event_round_trips_through_its_wire_form(event: ControlEvent) -> None:
    # Plain data only, as a channel layer carries it (Redis's serializes it with msgpack).
    wire = json.loads(json.dumps(event.to_wire()))
    assert wire["kind"] == event.kind
    assert events.from_wire(wire) == event


def test_every_kind_of_event_is_applied_to_sockets() -> None:
    assert set(control.APPLIERS) == set(events.EVENT_TYPES.values())


def test_the_wire_forms_are_the_ones_earlier_releases_send() -> None:
    # A process of the previous release (a rolling restart) sends these.
    assert events.from_wire({"kind": "credentials_revoked", "user_id": "7"}) == (
        CredentialsRevoked(user_id="7")
    )
    assert events.from_wire({"kind": "owner_changed", "owner_user_id": "7"}) == (
        CrownPassed(crown="", owner_user_id="7")
    )
    assert events.from_wire({"kind": "muted", "user_id": "7", "muted": False, "until": 0}) == (
        MuteChanged(user_id="7", muted=False, until=0.0)
    )


def test_an_unknown_kind_is_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert events.from_wire({"kind": "from_the_future"}) is None
    assert "from_the_future" in caplog.text


# --- from a process without a hub to the hubs of the others ------------------------------------


class _Layer:
    """A shared channel layer as a process without a hub sees it: sends recorded."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message))


class _Socket:
    session_id = "s-1"
    user_id = "42"

    def __init__(self) -> None:
        self.events: list[tuple[str, ControlEvent]] = []
        self.messages: list[EncodedMessage] = []

    def deliver(self, message: EncodedMessage) -> None:
        self.messages.append(message)

    def control(self, topic: str, event: ControlEvent) -> None:
        self.events.append((topic, event))


async def test_what_a_process_without_a_hub_publishes_reaches_the_other_hubs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer = _Layer()
    monkeypatch.setattr(hub_module, "get_channel_layer", lambda: layer)
    chat = pb.ServerMessage(chat=pb.ChatMessage(text="hello"))
    await hub_module.publish_without_hub(EVERYWHERE, IdentityChanged(user_id="42"))
    await hub_module.publish_without_hub(room_topic("r1"), EncodedMessage(chat))

    other = Hub(None, "another-process")
    socket = _Socket()
    other.connect(socket)
    await other.subscribe(room_topic("r1"), socket)
    for _group, envelope in layer.sent:
        other._handle(envelope)
    assert socket.events == [(EVERYWHERE, IdentityChanged(user_id="42"))]
    assert [m.message for m in socket.messages] == [chat]
