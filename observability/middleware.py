"""Per-request log context and the access log line.

``RequestContextMiddleware`` goes first in MIDDLEWARE: it gives each request an id (a sane
incoming ``X-Request-ID`` from a proxy, else a new uuid4), puts it in the log context, echoes
it in the response, and logs one access line per request with the query string redacted.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject, empty

from foundation.middleware import HybridMiddleware
from observability.logs import log_context, set_user_resolver
from observability.redaction import redact

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only if it cannot smuggle anything into a log line or header.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=-]{1,128}")

# The access log keeps the name it had when this lived in analytics: log filters and
# dashboards select its lines by it.
access_logger = logging.getLogger("analytics.access")


def request_id_for(request: HttpRequest) -> str:
    """The incoming X-Request-ID if it is a plain token, otherwise a new random id."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def known_user_id(request: HttpRequest) -> str | None:
    """The id of the request's user if authentication has already run; never queries.

    Django's session user is lazy (it would hit the database from a log call, maybe in an
    async context), so it is used only once evaluated; DRF puts its user on the request.
    """
    user: Any = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        wrapped = user._wrapped  # set once evaluated
        user = None if wrapped is empty else wrapped
    if user is None:
        user = request.__dict__.get("_cached_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)


def _log_access(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
    query = request.META.get("QUERY_STRING", "")
    path = request.path + (f"?{redact(query)}" if query else "")
    access_logger.info(
        "%s %s %s",
        request.method,
        path,
        response.status_code,
        extra={
            "client": request.META.get("REMOTE_ADDR", ""),
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


class RequestContextMiddleware(HybridMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        request_id = request_id_for(request)
        started = time.perf_counter()
        with log_context(request_id=request_id), set_user_resolver(lambda: known_user_id(request)):
            response: HttpResponseBase = self.get_response(request)  # type: ignore[assignment]
            response[REQUEST_ID_HEADER] = request_id
            _log_access(request, response, started)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_for(request)
        started = time.perf_counter()
        with log_context(request_id=request_id), set_user_resolver(lambda: known_user_id(request)):
            response: HttpResponseBase = await self.get_response(request)  # type: ignore[misc]
            response[REQUEST_ID_HEADER] = request_id
            _log_access(request, response, started)
        return response
