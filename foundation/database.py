"""A request that gets no database connection in time: 503 "try again", never a 500.

On PostgreSQL each process takes connections from a bounded pool (settings
``DATABASE_POOL_SIZE``): under a burst, requests wait up to ``DATABASE_POOL_TIMEOUT`` for
one, and then psycopg-pool gives up. That is load, not a bug, so it is answered 503 with a
``Retry-After``, in the API's error shape under ``/api/``, and logged as one WARNING line
without a traceback (docs/operations.md).
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from psycopg_pool import PoolTimeout, TooManyRequests

from foundation.middleware import HybridMiddleware

logger = logging.getLogger("pianorhythm.database")

MESSAGE = "The server is busy; try again in a moment."
RETRY_AFTER_SECONDS = 1


def pool_exhausted(exc: BaseException) -> bool:
    """Whether ``exc`` is the pool giving up (Django wraps the driver's error in its own)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, PoolTimeout | TooManyRequests):
            return True
        cause = cause.__cause__
    return False


def busy_response(request: HttpRequest) -> HttpResponse:
    """The 503 for a request that got no connection."""
    logger.warning(
        "no database connection in time: %s %s answered 503", request.method, request.path
    )
    response: HttpResponse
    if request.path.startswith("/api/"):
        body = {"code": "UNAVAILABLE", "message": MESSAGE, "retry_after": RETRY_AFTER_SECONDS}
        response = JsonResponse(body, status=503)
    else:
        response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # Logged above as a WARNING: Django would log every 5xx response again at ERROR.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class DatabaseBusyMiddleware(HybridMiddleware):
    """Turns the pool's giving up in a view (DRF's included: its handler passes the error
    on) into the 503 of ``busy_response``; any other error goes on as before."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await self.get_response(request)  # type: ignore[misc]
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return busy_response(request) if pool_exhausted(exception) else None
