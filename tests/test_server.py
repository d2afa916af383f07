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
