"""Structured logs: JSON lines with request and session context; secrets never written."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from rest_framework.test import APIClient

from observability.logs import (
    RoutedAccessLog,
    TextFormatter,
    bind_log_context,
    log_context,
    logging_config,
    route_daphne_access_log,
)
from tests.analytics.conftest import LogOutput
from users.models import User

PASSWORD = "correct-horse-battery-staple-42"
JWT = (
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjo0Miwicm9sZSI6Ik1FTUJFUiJ9"
    ".QmFkU2lnbmF0dXJlRm9yVGVzdHNPbmx5"
)
TICKET = "tkt-7f3a9c1e5b2d4f60"
CHAT = "meet me behind the piano at midnight"
SECRETS = (PASSWORD, JWT, JWT.split(".")[1], TICKET, CHAT, "sesskey-0b1c2d3e")

logger = logging.getLogger("tests.analytics")


def test_secrets_sent_to_the_server_never_reach_the_log(
    json_log_output: LogOutput, make_user: Callable[..., User]
) -> None:
    make_user("victim", password=PASSWORD)
    client = APIClient()
    # A login with a password (good and bad), a JWT in a header, a ticket in a query string.
    client.post("/api/v1/auth/token", {"username": "victim", "password": PASSWORD}, format="json")
    client.post("/api/v1/auth/token", {"username": "victim", "password": PASSWORD + "x"})
    client.get(f"/healthz?ticket={TICKET}&lang=en", HTTP_AUTHORIZATION=f"Bearer {JWT}")
    client.get(f"/api/v1/users/me?ticket={TICKET}", HTTP_AUTHORIZATION=f"Bearer {JWT}")
    # Code that carelessly logs them.
    logger.warning("login attempt %s", {"username": "victim", "password": PASSWORD})
    logger.warning("handshake headers: Authorization: Bearer %s", JWT)
    logger.info("socket path /ws/?ticket=%s", TICKET)
    logger.info("chat frame %s", json.dumps({"chat": {"text": CHAT}}))
    logger.info("chat received", extra={"text": CHAT, "password": PASSWORD})
    logger.info("cookie header", extra={"cookie": "sessionid=sesskey-0b1c2d3e"})
    try:
        raise ValueError(f"token {JWT} rejected for ?ticket={TICKET}")
    except ValueError:
        logger.exception("handshake failed")

    output = json_log_output.text
    for secret in SECRETS:
        assert secret not in output, secret
    records = json_log_output.records()  # every line is one JSON object
    messages = [record["message"] for record in records]
    assert "GET /healthz?ticket=[redacted]&lang=en 200" in messages
    assert any(m.startswith("POST /api/v1/auth/token 401") for m in messages)
    assert "[redacted]" in records[-1]["exception"]


def test_json_lines_carry_time_level_logger_and_context(json_log_output: LogOutput) -> None:
    with log_context(session_id="s-123", room="lobby"):
        logger.warning("relay slow", extra={"members": 12})
    logger.info("outside")
    inside, outside = json_log_output.records()
    assert inside["level"] == "WARNING"
    assert inside["logger"] == "tests.analytics"
    assert inside["message"] == "relay slow"
    assert inside["session_id"] == "s-123"
    assert inside["room"] == "lobby"
    assert inside["members"] == 12
    assert inside["time"].endswith("+00:00")
    assert "session_id" not in outside


def test_bind_log_context_lasts_for_the_task(json_log_output: LogOutput) -> None:
    import contextvars

    def consumer_task() -> None:
        bind_log_context(session_id="abc", user_id=7)
        logger.info("joined")

    contextvars.copy_context().run(consumer_task)  # as one consumer's task
    logger.info("elsewhere")
    joined, elsewhere = json_log_output.records()
    assert (joined["session_id"], joined["user_id"]) == ("abc", "7")
    assert "session_id" not in elsewhere


def test_unknown_context_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="colour"), log_context(colour="red"):
        pass


def test_request_id_is_made_echoed_and_logged(json_log_output: LogOutput, db: None) -> None:
    response = Client().get("/healthz")
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    (access,) = [r for r in json_log_output.records() if r["logger"] == "analytics.access"]
    assert access["request_id"] == request_id
    assert access["status"] == 200
    assert access["path"] == "/healthz"


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [("edge-1234.abc", True), ("bad id\r\nX-Evil: 1", False), ("x" * 300, False)],
)
def test_incoming_request_id_is_kept_only_when_sane(incoming: str, kept: bool) -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert (response["X-Request-ID"] == incoming) is kept


def test_user_id_is_logged_once_authentication_ran(
    json_log_output: LogOutput, make_user: Callable[..., User]
) -> None:
    user = make_user()
    client = Client()
    client.force_login(user)
    client.get("/api/v1/users/me")
    access = [r for r in json_log_output.records() if r["logger"] == "analytics.access"]
    assert access[-1]["user_id"] == str(user.pk)


def test_text_format_is_readable_with_context() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.room = "lobby"
    line = TextFormatter().format(record)
    assert line.endswith("INFO x hello world [room=lobby]")


def test_log_format_must_be_json_or_text() -> None:
    assert logging_config("json", "INFO")["formatters"]["main"]["()"].endswith("JsonFormatter")
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        logging_config("xml", "INFO")


def test_daphne_access_log_goes_through_logging_redacted(
    json_log_output: LogOutput, monkeypatch: pytest.MonkeyPatch
) -> None:
    import daphne.cli

    monkeypatch.setattr(daphne.cli, "AccessLogGenerator", daphne.cli.AccessLogGenerator)
    assert route_daphne_access_log() is True
    access_log = daphne.cli.AccessLogGenerator(None)
    assert isinstance(access_log, RoutedAccessLog)
    access_log("websocket", "connecting", {"path": f"/ws/?ticket={TICKET}", "client": "1.2.3.4:5"})
    access_log("http", "complete", {"path": f"/x?ticket={TICKET}", "status": 200})
    (record,) = json_log_output.records()  # HTTP lines come from the middleware instead
    assert record["logger"] == "daphne.access"
    assert record["path"] == "/ws/?ticket=[redacted]"
    assert TICKET not in json_log_output.text
