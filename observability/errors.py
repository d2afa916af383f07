"""Error reporting to Sentry, when ``SENTRY_DSN`` is set.

Settings call ``init_sentry`` at start-up. The Django integration reports exceptions in HTTP
views; the real-time layer and background tasks call ``report_exception`` where they catch an
exception (a consumer must not die of it, so nothing would reach Sentry by itself).

No personal data (``send_default_pii`` off, in sentry-sdk's newer ``data_collection`` form): no
IP addresses, cookies, user details, request bodies, query strings or local variables, and
every message, exception value and breadcrumb goes through the same redaction as the logs.
"""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.types import Event, Hint

from observability.logs import current_log_context
from observability.redaction import redact

logger = logging.getLogger(__name__)

# Request headers never sent (substrings of their names): addresses, credentials, cookies.
_PRIVATE_HEADER_TERMS = [
    "forwarded",
    "-ip",
    "remote-",
    "via",
    "-user",
    "authorization",
    "cookie",
    "token",
    "ticket",
]
# Context keys that identify a person; report_exception leaves them out of the tags.
_PERSONAL_KEYS = frozenset({"username", "display_name", "email", "ip", "ip_address", "name"})


def _redact_values(node: Any) -> Any:
    if isinstance(node, str):
        return redact(node)
    if isinstance(node, list):
        return [_redact_values(item) for item in node]
    if isinstance(node, dict):
        return {key: _redact_values(value) for key, value in node.items()}
    return node


def scrub_event(event: Event, hint: Hint) -> Event:
    """``before_send``: redact the texts of an event (messages, exception values, request)."""
    for key in ("message", "logentry", "exception", "request", "breadcrumbs", "extra"):
        if key in event:
            event[key] = _redact_values(event[key])
    return event


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """``before_breadcrumb``: log lines become breadcrumbs before the log filters see them."""
    redacted: dict[str, Any] = _redact_values(crumb)
    return redacted


def init_sentry(
    dsn: str,
    *,
    environment: str,
    release: str,
    sample_rate: float = 1.0,
    traces_sample_rate: float = 0.0,
    transport: Any = None,
) -> None:
    """Start the Sentry client. ``transport`` replaces the HTTP one (tests collect envelopes)."""
    options: dict[str, Any] = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        sample_rate=sample_rate,
        traces_sample_rate=traces_sample_rate,
        # What send_default_pii=False means, made stricter (sentry-sdk 2.x deprecates that
        # flag for this structured setting): no user details, cookies, bodies, query strings
        # or local variables; no headers that identify a client or carry credentials.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "denylist", "terms": _PRIVATE_HEADER_TERMS}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        integrations=[DjangoIntegration()],
        **options,
    )
    # Requests Django refuses as suspicious are the client's doing, logged as warnings
    # (observability.logs.ClientFaultFilter): no Sentry event for them.
    ignore_logger("django.security.*")


def report_exception(exc: BaseException, **context: object) -> str | None:
    """Report ``exc`` to Sentry with ``context`` (session_id, room, action...) as tags.

    The current log context (request id, session id, room) is added. Keys that identify a
    person (username, email...) are dropped. Returns the Sentry event id, or None when
    Sentry is not configured. Safe to call from async code: it does no I/O itself.
    """
    tags = {**current_log_context(), **{k: v for k, v in context.items() if v is not None}}
    with sentry_sdk.new_scope() as scope:
        for key, value in tags.items():
            if key.lower() not in _PERSONAL_KEYS:
                scope.set_tag(key, redact(str(value))[:200])
        return sentry_sdk.capture_exception(exc)
