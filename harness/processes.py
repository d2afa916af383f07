"""Start, wait for, talk to and stop real server processes: Daphne, uvicorn, granian or
hypercorn (``INTERFACES``) and a private ``redis-server``.

The end-to-end tests (tests/e2e/conftest.py) and the benchmark (bench/run.py) both start the
project as ``make run`` serves it and need the same things: a free port, a clean environment
that names its own database, a process that is only used once it answers HTTP, a JSON request
to it, and a Redis that is theirs alone. A process that cannot start raises ``StartError``
with the tail of its output; the tests turn that into a failure, the benchmark into a failed
target.

Standalone: no Django; the servers are other processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
LOG_TAIL_CHARS = 20_000
#: The message and frame size limits ``pianorhythm.server`` gives Daphne from the settings,
#: for a plain Daphne serving another application (the benchmark's baseline and ceiling).
DAPHNE_FLAGS = ("--websocket-max-message-size", "65536", "--websocket-max-frame-size", "65536")
#: The project's application, as every interface server imports it.
APPLICATION = "pianorhythm.asgi:application"
#: Interface servers ``server_command`` and ``project_command`` know. ``uvicorn`` is the
#: supported one (pianorhythm.server's default WebSocket implementation); the ``uvicorn-*``
#: variants pick another; granian and hypercorn serve the project bare (benchmark only:
#: none of pianorhythm.server's protections, docs/operations.md).
INTERFACES = (
    "daphne",
    "uvicorn",
    "uvicorn-websockets",
    "uvicorn-wsproto",
    "granian",
    "hypercorn",
)
#: The WebSocket implementation of each uvicorn interface (None: pianorhythm.server's default).
_UVICORN_WS = {
    "uvicorn": "websockets-sansio",
    "uvicorn-websockets": "websockets",
    "uvicorn-wsproto": "wsproto",
}
# Variables of the outer environment a server must not inherit: each caller says what it wants.
_STRIPPED = ("DATABASE_URL", "REDIS_URL", "VAR_DIR", "DJANGO_SETTINGS_MODULE", "DEBUG")
# No proxy for requests to our own servers, whatever the environment says.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StartError(RuntimeError):
    """A process exited or did not answer in time; the message ends with its output."""


def free_port() -> int:
    """A TCP port nothing listens on now (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    """The last ``chars`` characters of a process's log, for error messages."""
    if not path.exists():
        return "(no output)"
    text = path.read_text(errors="replace")
    return text if len(text) <= chars else "...\n" + text[-chars:]


def project_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """The outer environment without its database and Redis, with the project's settings
    and ``var_dir`` (SQLite file, development keys) as VAR_DIR, then ``overrides``."""
    env = {key: value for key, value in os.environ.items() if key not in _STRIPPED}
    env.update(
        DJANGO_SETTINGS_MODULE="pianorhythm.settings",
        VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def project_command(
    port: int, daphne_args: Sequence[str] = (), interface: str = "daphne"
) -> list[str]:
    """The project served by ``interface``: as ``make run`` serves it (Daphne through
    pianorhythm.server) by default, or on uvicorn through pianorhythm.server (``daphne_args``
    then are the few options it takes there: ``--ping-interval``, ``--ping-timeout``), or on a
    bare granian or hypercorn (no options)."""
    if interface == "daphne":
        server = [sys.executable, "-m", "pianorhythm.server"]
        return [*server, "-b", HOST, "-p", str(port), *daphne_args]
    if interface in _UVICORN_WS:
        server = [sys.executable, "-m", "pianorhythm.server", "--interface", "uvicorn"]
        server += ["--ws", _UVICORN_WS[interface]]
        return [*server, "-b", HOST, "-p", str(port), *daphne_args]
    if daphne_args:
        raise ValueError(f"{interface} takes no server options: {list(daphne_args)}")
    return server_command(interface, APPLICATION, port)


def daphne_command(application: str, port: int) -> list[str]:
    """A plain Daphne serving ``application`` with the project's message size limits."""
    return [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port), *DAPHNE_FLAGS, application]


def server_command(interface: str, application: str, port: int) -> list[str]:
    """``interface`` (one of ``INTERFACES``) serving the ASGI ``application`` bare: uvloop
    where the server can use it, the 64 KiB message limit where it has one (granian has none),
    no access log, no lifespan, no proxy headers, no compression."""
    python = sys.executable
    if interface == "daphne":
        return daphne_command(application, port)
    if interface in _UVICORN_WS:
        command = [python, "-m", "uvicorn", application, "--host", HOST, "--port", str(port)]
        command += ["--loop", "uvloop", "--http", "httptools", "--ws", _UVICORN_WS[interface]]
        command += ["--ws-max-size", "65536", "--ws-per-message-deflate", "False"]
        command += ["--lifespan", "off", "--no-proxy-headers", "--no-access-log"]
        return [*command, "--log-level", "warning"]
    if interface == "granian":
        command = [python, "-m", "granian", "--interface", "asgi", "--loop", "uvloop"]
        command += ["--host", HOST, "--port", str(port), "--no-access-log"]
        return [*command, "--log-level", "warning", application]
    if interface == "hypercorn":
        # --workers 0: in this process, as Daphne and uvicorn serve (granian always forks one).
        command = [python, "-m", "hypercorn", "--bind", f"{HOST}:{port}", "--workers", "0"]
        command += ["--worker-class", "uvloop", "--config", "python:harness.hypercorn_config"]
        return [*command, application]
    raise ValueError(f"unknown interface {interface!r}: one of {', '.join(INTERFACES)}")


def migrate(env: dict[str, str], log_path: Path) -> None:
    """``manage.py migrate`` against the database ``env`` names; its output to ``log_path``."""
    with log_path.open("ab") as log:
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        raise StartError("manage.py migrate failed:\n" + tail(log_path))


def http_json(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """An HTTP request with a JSON body: (status, decoded JSON body or text)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")
    headers = {"Accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # The scheme is checked above: only http(s), never file: or the like.
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with _HTTP.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class ServerProcess:
    """One HTTP/WebSocket server process on ``port``, its output in ``log_path``.

    ``command`` is run from the repository with ``env``; ``start`` returns once ``probe``
    answers with anything but a server error. ``url`` is its HTTP root, ``ws_url`` the
    project's protocol endpoint.
    """

    def __init__(
        self, name: str, port: int, command: Sequence[str], env: dict[str, str], log_path: Path
    ) -> None:
        self.name = name
        self.port = port
        self.command = list(command)
        self.env = env
        self.log_path = log_path
        self.url = f"http://{HOST}:{port}"
        self.ws_url = f"ws://{HOST}:{port}/ws/"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, probe: str = "/api/schema/", timeout: float = START_TIMEOUT) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(
                    f"{self.name} on port {self.port} exited with {self.proc.returncode}:\n"
                    + self.output
                )
            try:
                status, _ = http_json("GET", self.url + probe, timeout=5)
            except OSError:
                status = 0
            if 0 < status < 500:
                return
            time.sleep(0.2)
        self.kill()
        raise StartError(
            f"{self.name} on port {self.port} did not answer within {timeout} s:\n" + self.output
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
        """An HTTP request to this server: (status, decoded JSON body or text)."""
        return http_json(method, self.url + path, body, token=token, timeout=timeout)

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
        return tail(self.log_path)


class RedisServer:
    """A private redis-server without persistence, restartable on the same port, so the
    machine's shared Redis is neither used nor disturbed."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.log_path = directory / f"redis-{port}.log"
        self.url = f"redis://{HOST}:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("redis is already running")
        binary = shutil.which("redis-server")
        if binary is None:
            raise StartError("redis-server is not installed (apt-get install redis-server)")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(binary, "--port", str(self.port), "--bind", HOST, "--save", ""),
                    *("--appendonly", "no", "--dir", str(self.directory)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(
                    f"redis-server exited with {self.proc.returncode}:\n" + self.output
                )
            if self.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise StartError(f"redis-server did not answer within {timeout} s:\n" + self.output)

    def command(self, line: bytes) -> bytes:
        """Send one inline command; the start of the reply (empty when unreachable)."""
        try:
            with socket.create_connection((HOST, self.port), timeout=2) as sock:
                sock.sendall(line + b"\r\n")
                return sock.recv(64)
        except OSError:
            return b""

    def ping(self) -> bool:
        return self.command(b"PING").startswith(b"+PONG")

    def flush(self) -> None:
        self.command(b"FLUSHALL")

    def stop(self) -> None:
        """Kill it (SIGKILL: like a crash, nothing saved) and wait until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.wait(timeout=10)

    @property
    def output(self) -> str:
        return tail(self.log_path)
