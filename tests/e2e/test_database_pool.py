"""The server on PostgreSQL under a burst of requests: its connections stay within its pool,
and a request that cannot get one in time is a 503, never a 500 (security finding: a burst
of anonymous requests exhausted PostgreSQL's connections).

These run on the machine's PostgreSQL (127.0.0.1:5432, user postgres) in every run of the
suite, SQLite or not, each test in a database of its own; PostgreSQL missing is a failure.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg import sql

from harness.processes import http_json
from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.e2e

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database's name; dropped afterwards."""
    name = f"pianorhythm_e2e_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is needed for this test: {exc}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield name
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _server_connections(database: str) -> int:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]
        ).fetchone()
    return int(row[0]) if row else 0


class ConnectionWatch:
    """Samples how many connections the database has, every few milliseconds, until stopped."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.database]
                ).fetchone()
                self.most = max(self.most, int(row[0]) if row else 0)
                time.sleep(0.005)

    def __enter__(self) -> ConnectionWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _get(
    server: ServerProcess, path: str, forwarded_for: str, timeout: float = 30.0
) -> tuple[int, Any]:
    """GET ``path`` as the client at ``forwarded_for`` (the server trusts one proxy)."""
    return http_json(
        "GET", server.url + path, timeout=timeout, headers={"X-Forwarded-For": forwarded_for}
    )


def _start(
    server_process: Callable[..., ServerProcess], database: str, **env: str
) -> ServerProcess:
    return server_process(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
            # Each request from an address of its own, as the red team sent them.
            "NUM_PROXIES": "1",
            **env,
        }
    )


def test_a_burst_of_requests_stays_within_the_pool(
    server_process: Callable[..., ServerProcess], postgres_database: str
) -> None:
    server = _start(server_process, postgres_database, DATABASE_POOL_SIZE="4")

    def fetch(n: int) -> tuple[int, Any]:
        return _get(server, "/api/v1/stats", f"198.51.100.{n + 1}")

    with ConnectionWatch(postgres_database) as watch, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(fetch, range(80)))

    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 80}, results
    assert 0 < watch.most <= 4
    assert _server_connections(postgres_database) <= 4  # none left over past the pool


def test_a_request_that_gets_no_connection_in_time_is_a_503(
    server_process: Callable[..., ServerProcess], postgres_database: str
) -> None:
    server = _start(
        server_process, postgres_database, DATABASE_POOL_SIZE="1", DATABASE_POOL_TIMEOUT="0.5"
    )
    url = f"{POSTGRES}/{postgres_database}"
    with psycopg.connect(url) as blocker, ThreadPoolExecutor(1) as pool:
        # A first request takes the pool's only connection and waits on this lock...
        blocker.execute("LOCK TABLE rooms_room IN ACCESS EXCLUSIVE MODE")
        first = pool.submit(_get, server, "/api/v1/rooms/", "198.51.100.1")
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock(postgres_database):
            assert time.monotonic() < deadline, "the first request never reached the database"
            time.sleep(0.02)
        # ...so a second cannot get one within DATABASE_POOL_TIMEOUT.
        status, body = _get(server, "/api/v1/rooms/", "198.51.100.2", timeout=10)
        blocker.rollback()
        assert first.result(timeout=30)[0] == 200

    assert status == 503, body
    assert body["code"] == "UNAVAILABLE"
    assert body["retry_after"] >= 1
    output = server.output
    busy_lines = [line for line in output.splitlines() if "no database connection" in line]
    assert busy_lines
    assert all("WARNING" in line for line in busy_lines)
    assert "Traceback" not in output
    assert " ERROR " not in output


def _waiting_on_a_lock(database: str) -> bool:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            [database],
        ).fetchone()
    return bool(row and row[0])
