"""Locking out repeated wrong passwords, per address and per account, on every login path.

django-axes counts failed ``authenticate`` calls wherever they come from (the admin's login,
the web login page, ``POST /api/v1/auth/token``), so the three share one budget: after
LOGIN_FAILURE_LIMIT failures from one address, or against one account, further attempts
are refused for LOGIN_LOCKOUT_MINUTES, even with the right password. These are the hooks
axes is configured with (settings ``AXES_*``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from observability.throttles import client_ident

LOCKED_OUT_MESSAGE = "Too many failed sign-ins. Try again later."


def client_address(request: HttpRequest) -> str:
    """The client's address as the REST throttles count it (``NUM_PROXIES`` honoured, junk
    ignored, an IPv6 address by its /64: ``observability.throttles``)."""
    return client_ident(request)


def username_of(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account an attempt was for, in lower case: usernames are unique in any case, so
    "Alice" and "alice" spend one account's budget."""
    username = (credentials or {}).get("username")
    if username is None:
        username = request.POST.get("username") if hasattr(request, "POST") else None
    return str(username).strip().lower()[:150] if username else None


def retry_after_seconds() -> int:
    cool_off = settings.AXES_COOLOFF_TIME
    return int(cool_off.total_seconds()) if isinstance(cool_off, timedelta) else 0


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """429: JSON in the API's error shape for the API, a page for the web forms."""
    retry_after = retry_after_seconds()
    if request.path.startswith("/api/"):
        body = {"code": "RATE_LIMITED", "message": LOCKED_OUT_MESSAGE, "retry_after": retry_after}
        response: HttpResponse = JsonResponse(body, status=429)
    else:
        context = {"message": LOCKED_OUT_MESSAGE, "minutes": max(1, retry_after // 60)}
        response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def is_locked_out(request: Any) -> bool:
    """Whether axes refused the attempt ``request`` carried (a DRF or Django request)."""
    return bool(getattr(request, "axes_locked_out", False))
