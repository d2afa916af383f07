"""With real Daphne processes: JSON log lines without secrets, and counters flushed on SIGTERM."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.analytics.probe_asgi import PROBE_NOTES, PROBE_ROOM
from tests.e2e.conftest import DAPHNE_FLAGS, REPO, ServerProcess, free_port

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


class ProbeServer(ServerProcess):
    """A Daphne instance serving ``tests.analytics.probe_asgi``."""

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    *DAPHNE_FLAGS,
                    "tests.analytics.probe_asgi:application",
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready()


def test_sigterm_flushes_pending_counters(
    server_process: Callable[..., ServerProcess], e2e_var_dir: Path, tmp_path: Path
) -> None:
    # The fixture migrates the shared database; this instance then serves the probe app.
    migrated = server_process()
    migrated.terminate()
    port = free_port()
    server = ProbeServer(port, migrated.env, tmp_path / f"probe-{port}.log")
    server.start()
    try:
        status, body = server.request("GET", "/probe/notes")
        assert (status, body) == (200, "counted")
        server.request("GET", "/probe/notes")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)  # well before the 10 s periodic flush
        assert server.proc.wait(timeout=15) == 0, server.output
    finally:
        server.kill()

    with sqlite3.connect(e2e_var_dir / "db.sqlite3") as db:
        rows = db.execute(
            "SELECT notes, room_name FROM analytics_roomstats WHERE room_id = ?",
            (PROBE_ROOM.replace("-", ""),),
        ).fetchall()
    assert rows == [(2 * PROBE_NOTES, "probe")], server.output
