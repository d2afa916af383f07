"""Control events cross processes as their wire form and come back the same."""

from __future__ import annotations

import json

import pytest

from realtime import control, events
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
