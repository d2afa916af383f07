"""Liveness, readiness (database, Redis) and the status page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from harness.processes import free_port
from observability import health, metrics
from tests.e2e.conftest import RedisServer


def test_healthz_answers_without_the_database(client: Client) -> None:
    # No db fixture: pytest-django makes any database access fail this test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_is_ready_with_the_database_and_no_redis_configured(
    client: Client, db: None, settings: Any
) -> None:
    settings.REDIS_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "components": {"database": "ok", "redis": "disabled"},
    }


def test_readyz_names_the_database_when_it_fails(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    class UnreachableDatabase:
        def cursor(self) -> None:
            raise RuntimeError("connection refused")

    monkeypatch.setattr(health, "connection", UnreachableDatabase())
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert body["components"]["database"] == "down"
    assert "refused" not in response.content.decode()  # causes go to the log only


def test_readyz_follows_redis_going_down_and_coming_back(
    client: Client, db: None, settings: Any, redis_server: RedisServer
) -> None:
    settings.REDIS_URL = redis_server.url
    assert client.get("/readyz").status_code == 200

    redis_server.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert response.json()["components"] == {"database": "ok", "redis": "down"}

    redis_server.start()  # same port
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["components"]["redis"] == "ok"


def test_readyz_answers_quickly_when_redis_does_not(
    client: Client, db: None, settings: Any
) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]


def test_status_page_shows_version_components_and_live_numbers(
    client: Client, db: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = ""
    monkeypatch.setattr(metrics, "_connections", 7)
    monkeypatch.setattr(metrics, "_rooms", 3)
    response = client.get("/status/")
    assert response.status_code == 200
    page = response.content.decode()
    assert settings.VERSION in page
    assert "All systems working." in page
    assert "<dt>Connections</dt><dd>7</dd>" in page
    assert "<dt>Active rooms</dt><dd>3</dd>" in page
    assert "Database" in page
    assert "Notes per second" in page


def test_status_page_says_when_a_component_is_down(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        health, "check_redis", lambda url=None: health.ComponentState("redis", health.DOWN)
    )
    page = client.get("/status/").content.decode()
    assert "Some components are unavailable." in page
    assert "status-down" in page
