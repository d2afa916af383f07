"""Structured logs: a JSON object per line (or readable text), with request and session context.

``LOGGING`` in settings wires these in: ``ContextFilter`` copies the current request id, user
id, session id and room onto each record, ``RedactionFilter`` removes secrets and chat text,
and ``JsonFormatter`` or ``TextFormatter`` renders the record. The filters sit on the handler,
so they see every record, whichever logger it came from.

The context lives in context variables: ``RequestContextMiddleware`` sets the request id and
user id for each HTTP request; the real-time layer calls ``bind_log_context`` once a socket is
authenticated (each consumer runs in its own task, so the values stay with that socket) and
``log_context`` for a block.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from observability.redaction import MASK, is_secret_key, redact

CONTEXT_FIELDS = ("request_id", "user_id", "session_id", "room")

_vars: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"log_{name}", default=None) for name in CONTEXT_FIELDS
}
# Finds the user id late: an HTTP request's user is known only once authentication has run.
_user_resolver: ContextVar[Callable[[], str | None] | None] = ContextVar(
    "log_user_resolver", default=None
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", *CONTEXT_FIELDS}
)


def _check_fields(fields: dict[str, object]) -> None:
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {', '.join(sorted(unknown))}")


def bind_log_context(**fields: object) -> None:
    """Set context fields (request_id, user_id, session_id, room) for the rest of this task.

    ``None`` clears a field. Use it where the task is the unit of context (a socket's
    consumer); ``log_context`` for a block.
    """
    _check_fields(fields)
    for name, value in fields.items():
        _vars[name].set(None if value is None else str(value))


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Set context fields for the ``with`` block; the previous values come back after it."""
    _check_fields(fields)
    tokens: list[tuple[str, Token[str | None]]] = [
        (name, _vars[name].set(None if value is None else str(value)))
        for name, value in fields.items()
    ]
    try:
        yield
    finally:
        for name, token in reversed(tokens):
            _vars[name].reset(token)


@contextmanager
def set_user_resolver(resolve: Callable[[], str | None]) -> Iterator[None]:
    """Within the block, a record without a bound user id asks ``resolve`` for one."""
    token = _user_resolver.set(resolve)
    try:
        yield
    finally:
        _user_resolver.reset(token)


def current_log_context() -> dict[str, str]:
    """The context fields that are set now."""
    values = {name: var.get() for name, var in _vars.items()}
    if values["user_id"] is None:
        resolve = _user_resolver.get()
        values["user_id"] = resolve() if resolve is not None else None
    return {name: value for name, value in values.items() if value is not None}


class ContextFilter(logging.Filter):
    """Copies the current context fields onto the record (``record.request_id``...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_log_context().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class RedactionFilter(logging.Filter):
    """Renders the message and traceback and removes secrets from them and from extras.

    After this filter the record's ``msg`` is final text and ``args`` is empty, so no later
    formatter can put a secret back by formatting the arguments itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} (unformattable arguments)"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name in _RECORD_ATTRIBUTES:
                continue
            if is_secret_key(name):
                setattr(record, name, MASK)
            elif isinstance(value, str):
                setattr(record, name, redact(value))
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for name, value in vars(record).items():
        if name in _RECORD_ATTRIBUTES or name.startswith("_"):
            continue
        if isinstance(value, str | int | float | bool) or value is None:
            extras[name] = value
    return extras


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context fields and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        entry.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for development, with the context fields that are set."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        )
        if not context:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [{context}]{newline}{rest}"


class ClientFaultFilter(logging.Filter):
    """(A handler's filter: a logger's would not see the records of ``django.security.*``.)

    Django reports requests it refuses as suspicious (a Host not allowed, a body or a form
    over its limits) at ERROR with a traceback, which would page an operator (and reach
    Sentry) for what any client can send. They are the client's fault: a WARNING line
    without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security"):
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = None
            record.exc_text = None
        return True


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` setting: every record through one redacting handler on stdout."""
    if log_format not in ("json", "text"):
        raise ImproperlyConfigured(f"LOG_FORMAT must be json or text; got {log_format!r}")
    formatter = f"observability.logs.{'Json' if log_format == 'json' else 'Text'}Formatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "observability.logs.ContextFilter"},
            "redact": {"()": "observability.logs.RedactionFilter"},
            "client_fault": {"()": "observability.logs.ClientFaultFilter"},
        },
        "formatters": {"main": {"()": formatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": ["client_fault", "context", "redact"],
                "formatter": "main",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # Django's own defaults print "django" records a second time, unformatted, on stderr:
        # drop its handlers so they reach only ours.
        "loggers": {
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.server": {"handlers": [], "propagate": True},
        },
    }


def route_daphne_access_log() -> bool:
    """Send Daphne's access log through logging, redacted, instead of raw lines on stdout.

    Daphne writes NCSA lines straight to stdout, which would break the one-JSON-object-per-line
    stream and, for plain HTTP requests, print query strings as sent. Its command line builds
    the access logger after loading the application, so replacing the class it uses (from
    ``AnalyticsConfig.ready``) takes effect. HTTP requests are already logged, with their
    request id, by ``RequestContextMiddleware``: only WebSocket entries are kept. Returns
    whether Daphne's command line is running in this process.
    """
    import sys

    cli = sys.modules.get("daphne.cli")
    if cli is None:
        return False
    cli.AccessLogGenerator = RoutedAccessLog  # type: ignore[attr-defined]
    return True


class RoutedAccessLog:
    """Daphne's "action logger" interface, writing to the ``daphne.access`` logger."""

    logger = logging.getLogger("daphne.access")

    def __init__(self, stream: object = None) -> None:
        self.stream = stream  # unused: records go through the logging handlers

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if protocol != "websocket":
            return
        path = redact(str(details.get("path", "")))
        self.logger.info(
            "WS %s %s",
            action,
            path,
            extra={"client": details.get("client"), "path": path, "action": action},
        )
