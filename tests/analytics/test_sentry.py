"""Sentry: exceptions in views and in real-time actions are captured, without personal data."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import sentry_sdk
from django.test import Client

from analytics import services
from observability.errors import report_exception
from observability.logs import log_context
from tests.analytics.conftest import CollectingTransport
from users.models import User

PASSWORD = "correct-horse-battery-staple-42"
JWT = "eyJhbGciOiJFZERTQSJ9.eyJ1c2VyX2lkIjo0Mn0.U2lnbmF0dXJlT25seUZvclRlc3Rz"
# Kept up here: Sentry sends a few source lines around each frame, and the checks below look
# for these values anywhere in what was sent.
CHAT_TEXT = "my private words"
NAME = "alice-the-pianist"
EMAIL = "person@example.com"
CLIENT_IP, FORWARDED_IP = "198.51.100.23", "198.51.100.24"
TICKET = "tkt-sentry-123"


def test_view_exception_is_captured_without_personal_data(
    sentry_transport: CollectingTransport,
    make_user: Callable[..., User],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = make_user("private-person", email=EMAIL, password=PASSWORD)

    def broken(username: str) -> None:
        raise RuntimeError("stats backend exploded")

    monkeypatch.setattr(services, "user_stats", broken)
    client = Client(raise_request_exception=False, REMOTE_ADDR=CLIENT_IP)
    client.force_login(user)  # a session cookie
    response = client.get(
        f"/api/v1/users/private-person/stats?ticket={TICKET}",
        HTTP_X_CLIENT_TOKEN=JWT,
        HTTP_X_FORWARDED_FOR=FORWARDED_IP,
    )
    assert response.status_code == 500
    sentry_sdk.flush()

    (event,) = sentry_transport.events()
    assert event["exception"]["values"][-1]["value"] == "stats backend exploded"
    assert event["environment"] == "test"
    assert "user" not in event or not event["user"].get("email")
    raw = sentry_transport.raw().decode(errors="replace")
    for personal in (CLIENT_IP, FORWARDED_IP, EMAIL, JWT, JWT.split(".")[1], TICKET, "sessionid"):
        assert personal not in raw, personal


def test_report_exception_tags_context_and_drops_personal_keys(
    sentry_transport: CollectingTransport,
) -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        with log_context(request_id="req-1"):
            event_id = report_exception(
                exc, session_id="s-9", room="jazz", action="chat", username=NAME
            )
    assert event_id is not None
    sentry_sdk.flush()
    (event,) = sentry_transport.events()
    assert event["tags"]["session_id"] == "s-9"
    assert event["tags"]["room"] == "jazz"
    assert event["tags"]["action"] == "chat"
    assert event["tags"]["request_id"] == "req-1"
    assert "username" not in event["tags"]
    assert NAME not in sentry_transport.raw().decode(errors="replace")


async def test_exception_inside_a_realtime_action_is_captured(
    sentry_transport: CollectingTransport,
) -> None:
    """As the consumer runs an action: await it, catch everything, report, keep the socket."""

    async def chat_action(text: str) -> None:
        await asyncio.sleep(0)
        raise RuntimeError(f"could not store chat text={text!r}")

    async def consumer_receive() -> str:
        try:
            await chat_action(CHAT_TEXT)
        except Exception as exc:
            report_exception(exc, session_id="sess-1", room="lobby", action="chat")
            return "INTERNAL"
        return "OK"

    assert await consumer_receive() == "INTERNAL"
    sentry_sdk.flush()
    (event,) = sentry_transport.events()
    value = event["exception"]["values"][-1]["value"]
    assert value.startswith("could not store chat")
    assert event["tags"]["action"] == "chat"
    assert CHAT_TEXT not in sentry_transport.raw().decode(errors="replace")


def test_without_dsn_nothing_is_sent() -> None:
    sentry_sdk.init()  # what settings do when SENTRY_DSN is unset: no client at all
    assert report_exception(RuntimeError("unreported")) is None
