"""With a real Daphne process: JSON log lines without secrets. (Counters flushed on SIGTERM:
tests/e2e/test_statistics.py, through the real-time layer.)"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable

import pytest

from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.e2e

TICKET = "tkt-e2e-5d41402abc4b2a76"
JWT = "eyJhbGciOiJFZERTQSJ9.eyJ1c2VyX2lkIjo5fQ.RTJFU2lnbmF0dXJlT25seQ"


def test_daphne_writes_only_json_lines_without_secrets(
    server_process: Callable[..., ServerProcess],
) -> None:
    server = server_process({"LOG_FORMAT": "json"})
    request = urllib.request.Request(  # noqa: S310  (our own server)
        f"{server.url}/healthz?ticket={TICKET}", headers={"Authorization": f"Bearer {JWT}"}
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request) as answer:
        assert answer.status == 200
    status, _ = server.request("POST", "/api/v1/auth/token", {"username": "x", "password": JWT})
    assert status == 401
    time.sleep(0.5)  # let the log lines reach the file
    server.terminate()

    lines = [line for line in server.output.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON log line: {line!r}")
    assert TICKET not in server.output
    assert JWT.split(".")[1] not in server.output
    paths = [r.get("path") for r in records if r["logger"] == "analytics.access"]
    assert "/healthz?ticket=[redacted]" in paths
    assert all("request_id" in r for r in records if r["logger"] == "analytics.access")
