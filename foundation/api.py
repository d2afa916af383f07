"""REST edge: every error leaves the API as ``{"code", "message"[, "fields"]}``.

``ErrorSerializer`` describes that shape in the OpenAPI schema; every app's views name it in
their ``extend_schema`` responses."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from foundation.exceptions import DomainError
from foundation.middleware import api_not_found

_CODES: list[tuple[type[Exception], str]] = [
    (exceptions.ValidationError, "INVALID_ARGUMENT"),
    (exceptions.ParseError, "BAD_REQUEST"),
    (exceptions.NotAuthenticated, "UNAUTHENTICATED"),
    (exceptions.AuthenticationFailed, "UNAUTHENTICATED"),
    (exceptions.PermissionDenied, "FORBIDDEN"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, "RATE_LIMITED"),
]


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error body: a stable ``code`` and a human ``message``."""

    code = serializers.CharField()
    message = serializers.CharField()


class JSONBodyParser(JSONParser):
    """DRF's JSON parser, except that nesting deep enough to exhaust the decoder's stack is
    a 400 like any other malformed body (``json`` raises RecursionError, which DRF's parser
    lets through as a 500)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError(
                "JSON parse error - the body is nested too deeply."
            ) from exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"code": exc.code, "message": exc.message}, status=exc.http_status)
    if isinstance(exc, TokenError):
        exc = InvalidToken(exc.args[0] if exc.args else None)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response

    code = next((name for kind, name in _CODES if isinstance(exc, kind)), "ERROR")
    body: dict[str, Any] = {"code": code}
    if isinstance(exc, exceptions.ValidationError):
        body["message"] = "Some fields are not valid."
        body["fields"] = (
            exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        )
    elif isinstance(exc, InvalidToken):
        body["message"] = "The token is invalid or expired."
    else:
        detail = exc.detail
        body["message"] = str(detail.get("detail", detail) if isinstance(detail, dict) else detail)
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if wait is not None:
        body["retry_after"] = int(wait + 0.999)
    response.data = body
    if response.status_code == status.HTTP_401_UNAUTHORIZED and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


# --- Django's own error pages, for requests it refuses before any view (handler400/404) ---


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400 for a request Django refuses itself (a Host not allowed, a body too large, too
    many fields): in the API's error shape under /api/."""
    if _is_api(request):
        return JsonResponse(
            {"code": "BAD_REQUEST", "message": "The request was refused."}, status=400
        )
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for a path nothing answers: in the API's error shape under /api/ (with DEBUG on,
    Django shows its own page instead of calling this: foundation.middleware does it then)."""
    if _is_api(request):
        return api_not_found()
    return defaults.page_not_found(request, exception)
