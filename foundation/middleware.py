"""Requests refused before any view: a null character in the path or the query string; and
unknown API paths answered in the API's error shape even with DEBUG on.

PostgreSQL text cannot hold a null character, so a ``%00`` that reaches a lookup (a room
search, a username in the path) would fail in the database as a server error. No address of
this site has one, so such requests are answered 400 here, in the API's error shape under
``/api/``, and logged as a WARNING like Django's own refusals.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBadRequest, HttpResponseBase, JsonResponse

logger = logging.getLogger("pianorhythm.requests")

Handler = Callable[[HttpRequest], HttpResponseBase]
AsyncHandler = Callable[[HttpRequest], Awaitable[HttpResponseBase]]

MESSAGE = "Null characters are not allowed in the address."


def null_character_refusal(request: HttpRequest) -> HttpResponseBase | None:
    """The 400 for a request whose path or query string holds a null character, or None."""
    query = request.META.get("QUERY_STRING", "")
    if not any("\x00" in text for text in (request.path, query)) and "%00" not in query:
        return None
    logger.warning("refused a request with a null character in its address: %s", request.method)
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "INVALID_ARGUMENT", "message": MESSAGE}, status=400)
    return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")


class HybridMiddleware:
    """A middleware that runs as its chain does, sync or async, without a thread hop: the
    subclass gives ``__call__`` (sync) and ``__acall__`` (async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler | AsyncHandler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        raise NotImplementedError


class RefuseNullCharactersMiddleware(HybridMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return null_character_refusal(request) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        refusal = null_character_refusal(request)
        if refusal is not None:
            return refusal
        # is_async: Django gave an async get_response (a coroutine function) to this instance.
        get_response = cast(AsyncHandler, self.get_response)
        return await get_response(request)


def api_not_found() -> JsonResponse:
    return JsonResponse({"code": "NOT_FOUND", "message": "There is nothing here."}, status=404)


def _api_404(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """A 404 under /api/ that is not JSON (Django's debug page for a path nothing answers, as
    ``make run`` serves with DEBUG on) becomes the API's NOT_FOUND; an API view's own 404 (a
    room that does not exist) is JSON already and stays as it is."""
    if (
        response.status_code == 404
        and request.path.startswith("/api/")
        and not response.get("Content-Type", "").startswith("application/json")
    ):
        return api_not_found()
    return response


class ApiNotFoundMiddleware(HybridMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return _api_404(request, cast(Handler, self.get_response)(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        get_response = cast(AsyncHandler, self.get_response)
        return _api_404(request, await get_response(request))
