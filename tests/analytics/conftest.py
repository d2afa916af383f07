"""Fixtures of the analytics tests: a private stats recorder, the captured log output, a
Sentry client with an in-memory transport, and (from the e2e tests) a private Redis."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from analytics.stats import StatsRecorder
from observability.errors import init_sentry
from tests.e2e.conftest import (  # noqa: F401  (fixtures reused here)
    e2e_interface,
    e2e_var_dir,
    redis_server,
    server_process,
)


@pytest.fixture
def recorder() -> StatsRecorder:
    return StatsRecorder(flush_seconds=0.05)


class LogOutput:
    """What the configured console handler wrote during the test."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


def _console_handler() -> logging.StreamHandler[Any]:
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "console" and isinstance(handler, logging.StreamHandler):
            return handler
    raise AssertionError("the console handler of settings.LOGGING is not installed")


@pytest.fixture
def log_output() -> Iterator[LogOutput]:
    """Swaps the real console handler's stream (its filters and formatter stay) for a buffer."""
    handler = _console_handler()
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield LogOutput(buffer)
    finally:
        if previous is not None:
            handler.setStream(previous)


@pytest.fixture
def json_log_output(log_output: LogOutput) -> Iterator[LogOutput]:
    """``log_output`` rendered as JSON lines, whatever LOG_FORMAT the test run has."""
    from observability.logs import JsonFormatter

    handler = _console_handler()
    previous = handler.formatter
    handler.setFormatter(JsonFormatter())
    try:
        yield log_output
    finally:
        handler.setFormatter(previous)


class CollectingTransport(Transport):
    """Keeps every envelope in memory instead of sending it."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == "event" and item.payload.json is not None
        ]

    def raw(self) -> bytes:
        out = io.BytesIO()
        for envelope in self.envelopes:
            envelope.serialize_into(out)
        return out.getvalue()


@pytest.fixture
def sentry_transport() -> Iterator[CollectingTransport]:
    transport = CollectingTransport()
    init_sentry(
        "https://public@sentry.example.invalid/1",
        environment="test",
        release="pianorhythm@test",
        transport=transport,
    )
    try:
        yield transport
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # no DSN: a client that sends nothing
