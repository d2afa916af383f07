"""Real processes for end-to-end tests: Daphne instances sharing one database, and Redis.

``server_process(env, port=None)`` starts Daphne (``python -m pianorhythm.server``) on a free
port with ``env`` on top of a clean environment. All instances of one test share a SQLite
file (VAR_DIR in the test's tmp_path, migrated once before the first starts) and so also the
development secret and JWT keys generated there: a token from one instance works on the other.
``redis_server`` is a private ``redis-server`` without persistence that a test may stop and
start again on the same port.

Both fail the test (never skip) when the process cannot start, and both are killed at
teardown. A failing test's report shows every process's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
LOG_TAIL_CHARS = 20_000
# Variables of the outer environment a server must not inherit: each test says what it wants.
_STRIPPED = ("DATABASE_URL", "REDIS_URL", "VAR_DIR", "DJANGO_SETTINGS_MODULE", "DEBUG")
# No proxy for requests to our own servers, whatever the environment says.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path) -> str:
    if not path.exists():
        return "(no output)"
    text = path.read_text(errors="replace")
    return text if len(text) <= LOG_TAIL_CHARS else "...\n" + text[-LOG_TAIL_CHARS:]


def _base_env(var_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _STRIPPED}
    env.update(
        DJANGO_SETTINGS_MODULE="pianorhythm.settings",
        VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
        # Tests register several users and create rooms from one address.
        THROTTLE_REGISTER="1000/min",
        THROTTLE_AUTH="1000/min",
        THROTTLE_ANON="10000/min",
        THROTTLE_USER="10000/min",
        THROTTLE_TICKETS="1000/min",
        # Every test client comes from 127.0.0.1; the limit's own tests set it lower.
        MAX_GUEST_SOCKETS_PER_ADDRESS="100000",
    )
    return env


class ServerProcess:
    """One Daphne instance. ``url`` is its HTTP root, ``ws_url`` the protocol endpoint."""

    def __init__(
        self, port: int, env: dict[str, str], log_path: Path, daphne_args: Sequence[str] = ()
    ) -> None:
        self.port = port
        self.env = env
        self.daphne_args = list(daphne_args)
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws/"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                # As `make run` serves: Daphne through pianorhythm.server.
                [
                    sys.executable,
                    "-m",
                    "pianorhythm.server",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    *self.daphne_args,
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"daphne on port {self.port} exited with {self.proc.returncode}:\n"
                    + _tail(self.log_path)
                )
            with contextlib.suppress(OSError):
                status, _ = self.request("GET", "/api/schema/", timeout=5)
                if status == 200:
                    return
            time.sleep(0.2)
        self.kill()
        pytest.fail(
            f"daphne on port {self.port} did not answer within {START_TIMEOUT} s:\n"
            + _tail(self.log_path)
        )

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        """An HTTP request to this instance: (status, decoded JSON body or text)."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Always http://127.0.0.1:<port>: the scheme is ours, not the caller's.
        request = urllib.request.Request(  # noqa: S310
            self.url + path, data=data, headers=headers, method=method
        )
        try:
            with _HTTP.open(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def manage(self, *args: str) -> str:
        """Run ``manage.py *args`` against this instance's database and settings."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL by default) and, for SIGKILL, wait until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within ``timeout`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def output(self) -> str:
        return _tail(self.log_path)


class RedisServer:
    """A private redis-server without persistence, restartable on the same port."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.log_path = directory / f"redis-{port}.log"
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("redis is already running")
        with self.log_path.open("ab") as log:
            try:
                self.proc = subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(self.port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(self.directory),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            except FileNotFoundError:
                pytest.fail("redis-server is not installed (it is needed for the e2e tests)")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server exited with {self.proc.returncode}:\n" + self.output)
            if self.ping():
                return
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"redis-server did not answer within {START_TIMEOUT} s:\n" + self.output)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Kill it (SIGKILL: like a crash, nothing saved) and wait until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.wait(timeout=10)

    @property
    def output(self) -> str:
        return _tail(self.log_path)


def _remember_log(request: pytest.FixtureRequest, name: str, path: Path) -> None:
    logs: list[tuple[str, Path]] = request.node.__dict__.setdefault("e2e_logs", [])
    logs.append((name, path))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        for name, path in item.__dict__.get("e2e_logs", []):
            report.sections.append((f"output of {name}", _tail(path)))
    return report


@pytest.fixture
def e2e_var_dir(tmp_path: Path) -> Path:
    """The VAR_DIR (SQLite database, dev keys) shared by every server of one test."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    return var_dir


@pytest.fixture
def server_process(
    request: pytest.FixtureRequest, tmp_path: Path, e2e_var_dir: Path
) -> Iterator[Callable[..., ServerProcess]]:
    """Factory: ``server_process(env: dict, port=None)`` starts one Daphne instance."""
    started: list[ServerProcess] = []
    migrated = False

    def start(
        env: dict[str, str] | None = None,
        port: int | None = None,
        daphne_args: Sequence[str] = (),
    ) -> ServerProcess:
        nonlocal migrated
        full_env = {**_base_env(e2e_var_dir), **(env or {})}
        if not migrated:
            migrate_log = tmp_path / "migrate.log"
            _remember_log(request, "manage.py migrate", migrate_log)
            with migrate_log.open("wb") as log:
                result = subprocess.run(
                    [sys.executable, "manage.py", "migrate", "--noinput"],
                    cwd=REPO,
                    env=full_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=120,
                    check=False,
                )
            if result.returncode != 0:
                pytest.fail("manage.py migrate failed:\n" + _tail(migrate_log))
            migrated = True
        chosen = port or free_port()
        server = ServerProcess(chosen, full_env, tmp_path / f"daphne-{chosen}.log", daphne_args)
        _remember_log(request, f"daphne :{chosen}", server.log_path)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.terminate(timeout=3)


@pytest.fixture
def redis_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    redis = RedisServer(free_port(), tmp_path)
    _remember_log(request, f"redis :{redis.port}", redis.log_path)
    redis.start()
    yield redis
    redis.stop()
