"""Connections whose request never finishes are dropped (hardening issue, item 7): Daphne
alone held them for as long as a byte trickled in now and then, and a few hundred of them
tied the server up."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.server_layer]


def seconds_until_dropped(sock: socket.socket, trickle: bytes, limit: float) -> float | None:
    """Send ``trickle`` a byte a second until the server drops the connection."""
    started = time.monotonic()
    sock.settimeout(1.0)
    for byte in trickle * 100:
        if time.monotonic() - started > limit:
            return None
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - started
    return None


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(2)
    try:
        return sock.recv(16) == b""
    except ConnectionResetError:  # dropped outright
        return True


def test_a_request_trickled_a_byte_a_second_is_dropped(
    server_process: Callable[..., ServerProcess],
) -> None:
    server = server_process({"HTTP_REQUEST_TIMEOUT": "3"})
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        dropped = seconds_until_dropped(sock, b"X-Slow: loris\r\n", limit=15)
    assert dropped is not None
    assert dropped < 8


def test_hundreds_of_silent_connections_are_dropped_and_health_stays_up(
    server_process: Callable[..., ServerProcess],
) -> None:
    server = server_process({"HTTP_REQUEST_TIMEOUT": "3"})
    silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(250)]
    try:
        status, _ = server.request("GET", "/healthz", timeout=5)
        assert status == 200
        time.sleep(5)
        assert all(closed_by_server(sock) for sock in silent)
    finally:
        for sock in silent:
            sock.close()
    status, _ = server.request("GET", "/healthz", timeout=5)
    assert status == 200


def test_a_websocket_and_a_normal_request_are_not_affected(
    server_process: Callable[..., ServerProcess],
) -> None:
    server = server_process({"HTTP_REQUEST_TIMEOUT": "2"})
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.settimeout(5)
        assert sock.recv(12) == b"HTTP/1.1 101"
        time.sleep(3)  # past the deadline: an open socket is not a slow request
        sock.sendall(b"\x88\x80\x00\x00\x00\x00")  # a masked close frame
        assert sock.recv(1024)  # the server answers the close
