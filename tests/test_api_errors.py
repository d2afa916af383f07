"""Requests Django refuses before any view (a Host not allowed, a body over its limits) and
unknown API paths answer in the API's error shape, and are logged as the client's fault: a
WARNING without a traceback, never an ERROR that pages someone (hardening review)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings


@pytest.fixture
def production(settings: Any) -> None:
    settings.DEBUG = False  # as served: DEBUG pages only ever show in development


def no_errors(caplog: pytest.LogCaptureFixture) -> bool:
    return not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_body_over_the_upload_limit_is_a_json_400_and_a_warning(
    db: None, production: None, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    body = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = Client().post("/api/v1/auth/token", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert no_errors(caplog)
    assert any(r.name.startswith("django.security") for r in caplog.records)


def test_too_many_form_fields_is_a_json_400_and_a_warning(
    db: None, production: None, caplog: pytest.LogCaptureFixture
) -> None:
    fields = "&".join(f"f{n}=1" for n in range(1500))
    response = Client().post(
        "/api/v1/auth/token", fields, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert no_errors(caplog)


def test_a_host_that_is_not_ours_is_a_400_and_a_warning(
    db: None, production: None, caplog: pytest.LogCaptureFixture
) -> None:
    response = Client(HTTP_HOST="evil.example.com").get("/api/v1/rooms/")
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert no_errors(caplog)


def test_an_unknown_api_path_is_a_json_404(db: None, production: None) -> None:
    response = Client().get("/api/v1/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"code": "NOT_FOUND", "message": "There is nothing here."}
    assert Client().get("/no/such/page").status_code == 404  # pages keep their HTML page


@override_settings(DEBUG=True)
def test_an_unknown_api_path_is_a_json_404_with_debug_on_too(db: None) -> None:
    # As `make run` serves: Django answers unknown paths with its debug page then.
    for method in ("get", "post", "delete"):
        response = getattr(Client(), method)("/api/v1/no/such/thing")
        assert response.status_code == 404
        assert response.json() == {"code": "NOT_FOUND", "message": "There is nothing here."}
    page = Client().get("/no/such/page")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    # An API view's own 404 keeps its message; a missing slash is still redirected.
    missing = Client().get("/api/v1/users/nobody-here")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"
    assert missing.json()["message"] != "There is nothing here."
    assert Client().get("/api/v1/rooms").status_code == 301


# --- No database connection in time (foundation.database) -----------------------------------


def _pool_gave_up() -> Exception:
    from django.db import OperationalError
    from psycopg_pool import PoolTimeout

    # As Django raises it: its own OperationalError, caused by the driver's.
    try:
        try:
            raise PoolTimeout("couldn't get a connection after 5.00 sec")
        except PoolTimeout as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as wrapped:
        return wrapped


def test_a_request_that_gets_no_connection_is_a_503_in_the_api_shape(rf: Any) -> None:
    from foundation.database import DatabaseBusyMiddleware

    middleware = DatabaseBusyMiddleware(lambda request: HttpResponse())
    response = middleware.process_exception(rf.get("/api/v1/rooms/"), _pool_gave_up())
    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert json.loads(response.content) == {
        "code": "UNAVAILABLE",
        "message": "The server is busy; try again in a moment.",
        "retry_after": 1,
    }
    page = middleware.process_exception(rf.get("/rooms/"), _pool_gave_up())
    assert page is not None
    assert page.status_code == 503
    assert page["Content-Type"].startswith("text/plain")


def test_other_database_errors_are_left_alone(rf: Any) -> None:
    from django.db import OperationalError

    from foundation.database import DatabaseBusyMiddleware

    middleware = DatabaseBusyMiddleware(lambda request: HttpResponse())
    assert middleware.process_exception(rf.get("/api/v1/rooms/"), OperationalError("x")) is None
