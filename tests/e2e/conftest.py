"""Real processes for end-to-end tests: server instances sharing one database, and Redis.

``server_process(env, port=None)`` starts the project (``python -m pianorhythm.server``) on a
free port with ``env`` on top of a clean environment: on Daphne, or on the interface server
``E2E_INTERFACE`` names (``uvicorn``, or any of ``harness.processes.INTERFACES``). Tests
marked ``server_layer`` (frame limits, close codes, slow clients, SIGTERM) run once on each
supported interface (``SUPPORTED_INTERFACES``) unless ``E2E_INTERFACE`` picks one.

All instances of one test share a SQLite file (VAR_DIR in the test's tmp_path, migrated once
before the first starts) and so also the development secret and JWT keys generated there: a
token from one instance works on the other.
``redis_server`` is a private ``redis-server`` without persistence that a test may stop and
start again on the same port. The processes themselves are ``harness.processes``'.

Both fail the test (never skip) when the process cannot start, and both are killed at
teardown. A failing test's report shows every process's output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness import processes
from harness.processes import REPO, free_port, tail

# Tests register several users and create rooms from one address; every test client comes
# from 127.0.0.1, and the guest socket limit's own tests set it lower.
_TEST_ENV = {
    "THROTTLE_REGISTER": "1000/min",
    "THROTTLE_AUTH": "1000/min",
    "THROTTLE_ANON": "10000/min",
    "THROTTLE_USER": "10000/min",
    "THROTTLE_TICKETS": "1000/min",
    "MAX_GUEST_SOCKETS_PER_ADDRESS": "100000",
}


#: The interface servers supported in production (docs/operations.md, Production server).
SUPPORTED_INTERFACES = ("daphne", "uvicorn")
#: The one every e2e test runs on; without E2E_INTERFACE, Daphne (``make run``'s).
INTERFACE = os.environ.get("E2E_INTERFACE", "") or "daphne"
if INTERFACE not in processes.INTERFACES:
    raise pytest.UsageError(f"E2E_INTERFACE={INTERFACE!r}: one of {processes.INTERFACES}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A ``server_layer`` test runs on every supported interface, unless E2E_INTERFACE says
    which one."""
    if (
        "e2e_interface" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("server_layer") is not None
        and not os.environ.get("E2E_INTERFACE")
    ):
        metafunc.parametrize("e2e_interface", SUPPORTED_INTERFACES, indirect=True)


@pytest.fixture
def e2e_interface(request: pytest.FixtureRequest) -> str:
    """The interface server this test's servers run on."""
    return str(getattr(request, "param", INTERFACE))


class ServerProcess(processes.ServerProcess):
    """One server instance serving the project. ``url`` is its HTTP root, ``ws_url`` the
    protocol endpoint; a failed start fails the test."""

    def __init__(
        self,
        port: int,
        env: dict[str, str],
        log_path: Path,
        daphne_args: Sequence[str] = (),
        interface: str = "daphne",
    ) -> None:
        command = processes.project_command(port, daphne_args, interface)
        super().__init__(interface, port, command, env, log_path)

    def start(self, probe: str = "/api/schema/", timeout: float = processes.START_TIMEOUT) -> None:
        try:
            super().start(probe, timeout)
        except processes.StartError as exc:
            pytest.fail(str(exc))

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


class RedisServer(processes.RedisServer):
    """A private redis-server (``harness.processes.RedisServer``); a failed start fails the
    test."""

    def start(self, timeout: float = processes.START_TIMEOUT) -> None:
        try:
            super().start(timeout)
        except processes.StartError as exc:
            pytest.fail(str(exc))


def _remember_log(request: pytest.FixtureRequest, name: str, path: Path) -> None:
    logs: list[tuple[str, Path]] = request.node.__dict__.setdefault("e2e_logs", [])
    logs.append((name, path))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        for name, path in item.__dict__.get("e2e_logs", []):
            report.sections.append((f"output of {name}", tail(path)))
    return report


@pytest.fixture
def e2e_var_dir(tmp_path: Path) -> Path:
    """The VAR_DIR (SQLite database, dev keys) shared by every server of one test."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    return var_dir


@pytest.fixture
def server_process(
    request: pytest.FixtureRequest, tmp_path: Path, e2e_var_dir: Path, e2e_interface: str
) -> Iterator[Callable[..., ServerProcess]]:
    """Factory: ``server_process(env: dict, port=None, daphne_args=())`` starts one instance
    on ``e2e_interface``."""
    started: list[ServerProcess] = []
    migrated = False

    def start(
        env: dict[str, str] | None = None,
        port: int | None = None,
        daphne_args: Sequence[str] = (),
    ) -> ServerProcess:
        nonlocal migrated
        full_env = processes.project_env(e2e_var_dir, **{**_TEST_ENV, **(env or {})})
        if not migrated:
            migrate_log = tmp_path / "migrate.log"
            _remember_log(request, "manage.py migrate", migrate_log)
            try:
                processes.migrate(full_env, migrate_log)
            except processes.StartError as exc:
                pytest.fail(str(exc))
            migrated = True
        chosen = port or free_port()
        log_path = tmp_path / f"{e2e_interface}-{chosen}.log"
        server = ServerProcess(chosen, full_env, log_path, daphne_args, e2e_interface)
        _remember_log(request, f"{e2e_interface} :{chosen}", server.log_path)
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
