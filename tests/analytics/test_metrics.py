"""/metrics: who may read it, and the real-time metrics it exports."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from observability import metrics

REALTIME_METRICS = (
    "pianorhythm_websocket_connections",
    "pianorhythm_active_rooms",
    "pianorhythm_room_members",
    "pianorhythm_messages_received_total",
    "pianorhythm_messages_sent_total",
    "pianorhythm_note_events_relayed_total",
    "pianorhythm_relay_seconds_bucket",
    "pianorhythm_rate_limited_total",
    "pianorhythm_protocol_errors_total",
    "pianorhythm_outbound_dropped_total",
    "pianorhythm_slow_client_disconnects_total",
    "pianorhythm_hub_dropped_total",
    "pianorhythm_late_note_batches_total",
)


def scrape(client: Client, **headers: str) -> str:
    response = client.get("/metrics", **headers)  # type: ignore[arg-type]
    assert response.status_code == 200, response.content
    return response.content.decode()


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not exported"
    return float(match.group(1))


def test_metrics_from_loopback_show_the_realtime_metrics(client: Client, db: None) -> None:
    metrics.message_received("note_batch")
    metrics.message_sent("note_batch", 19)
    metrics.rate_limited("RATE_LIMITED")
    metrics.protocol_error("BAD_MESSAGE")
    text = scrape(client)
    for name in REALTIME_METRICS:
        assert name in text, name
    assert 'pianorhythm_messages_received_total{type="note_batch"}' in text
    assert 'pianorhythm_protocol_errors_total{code="BAD_MESSAGE"}' in text
    assert "django_http_requests_total_by_method_total" in text  # django-prometheus' own


def test_metrics_change_as_clients_connect_and_play(client: Client, db: None) -> None:
    before = scrape(client)
    metrics.connection_opened()
    metrics.notes_relayed(120, seconds=0.0004)
    try:
        after = scrape(client)
    finally:
        metrics.connection_closed()
    connections = "pianorhythm_websocket_connections"
    assert sample(after, connections) == sample(before, connections) + 1
    relayed = "pianorhythm_note_events_relayed_total"
    assert sample(after, relayed) == sample(before, relayed) + 120
    assert sample(after, "pianorhythm_relay_seconds_count") == (
        sample(before, "pianorhythm_relay_seconds_count") + 1
    )
    assert metrics.live_numbers().notes_per_second >= 2.0  # 120 notes in the last minute


def test_metrics_refuse_a_disallowed_address(client: Client) -> None:
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


def test_metrics_ignore_forwarded_for_without_proxies(client: Client) -> None:
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403


def test_metrics_behind_a_proxy_check_the_forwarded_address(
    client: Client, settings: Any, db: None
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.METRICS_ALLOWED_NETWORKS = metrics_networks("10.1.0.0/16")
    allowed = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    refused = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert (allowed.status_code, refused.status_code) == (200, 403)


def metrics_networks(*entries: str) -> list[Any]:
    from observability.access import parse_networks

    return parse_networks(entries)


@pytest.mark.parametrize(
    ("header", "status"),
    [("Bearer scrape-me-1234", 200), ("Bearer wrong-token", 403), ("scrape-me-1234", 403)],
)
def test_metrics_token_lets_any_address_in(
    client: Client, settings: Any, header: str, status: int, db: None
) -> None:
    settings.METRICS_TOKEN = "scrape-me-1234"
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION=header)
    assert response.status_code == status


def test_metrics_without_a_token_configured_refuse_empty_bearer(
    client: Client, settings: Any
) -> None:
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403
