"""The Daphne launcher's patches (pianorhythm.server), checked in this process."""

from __future__ import annotations

from typing import Any

from autobahn.twisted import websocket as twisted_websocket
from autobahn.websocket import protocol

from pianorhythm import server


def _log_argument(module: Any, name: str, value: Any) -> Any:
    """What autobahn's ``module`` makes of one argument of its per-frame debug log line."""
    return getattr(module, name)(value)


def test_autobahn_log_arguments_are_passed_as_they_are_not_styled_per_frame() -> None:
    # As shipped, every frame sent pays for a coloured rendering of its log arguments.
    assert _log_argument(protocol, "hlval", 1024) != 1024
    server.install_plain_log_arguments()
    method = protocol.WebSocketProtocol.sendData
    for module in (protocol, twisted_websocket):
        assert _log_argument(module, "hlval", 1024) == 1024
        assert _log_argument(module, "hltype", method) is method


def test_the_interface_is_daphne_unless_named() -> None:
    assert server.split_interface(["-b", "192.0.2.1"]) == ("daphne", ["-b", "192.0.2.1"])
    assert server.split_interface(["--interface", "uvicorn", "-p", "80"]) == (
        "uvicorn",
        ["-p", "80"],
    )
    assert server.split_interface(["--interface=uvicorn"]) == ("uvicorn", [])


def test_uvicorn_gets_the_limits_and_trusts_no_proxy_header_itself() -> None:
    config = server.uvicorn_config(["-b", "192.0.2.1", "-p", "8001"], 65536, 15.0)
    assert (config.host, config.port, config.ws_max_size) == ("192.0.2.1", 8001, 65536)
    assert config.proxy_headers is False  # NUM_PROXIES decides, in the project
    assert config.ws_per_message_deflate is False
    assert config.timeout_graceful_shutdown is not None
    assert isinstance(config.http, type)
    assert config.http.__name__ == "DeadlineHttpToolsProtocol"
