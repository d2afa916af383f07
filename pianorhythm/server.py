"""Serve the project with Daphne: ``python -m pianorhythm.server [daphne options]``.

Daphne as it comes holds a connection whose request never finishes for as long as bytes
trickle in (Twisted's idle timeout starts again with every byte), so a few hundred such
connections from one client tie the server up. This launcher runs Daphne's own command line
with three things of ours:

- every request must arrive whole, request line, headers and body, within
  ``HTTP_REQUEST_TIMEOUT`` seconds of the connection opening (or, on a kept-alive
  connection, of its first line), or the connection is dropped;
- the WebSocket message size limit, both ways, is ``WEBSOCKET_MAX_MESSAGE_BYTES`` unless
  the options given say otherwise (the real-time layer never sends more);
- a WebSocket Daphne refuses (a message over that limit) gets a close frame with its code
  (1009), not a dropped connection.

Any Daphne option may follow (``-b``, ``-p``, ``--proxy-headers``, ...); the application is
always ``pianorhythm.asgi:application``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger("pianorhythm.server")

APPLICATION = "pianorhythm.asgi:application"


def install_request_deadline(seconds: float) -> None:
    """Make Daphne drop connections whose request has not fully arrived within ``seconds``."""
    # daphne.server first: it installs Twisted's asyncio reactor, which must come before
    # anything imports the default one.
    import daphne.server
    from daphne import http_protocol
    from twisted.internet import reactor as twisted_reactor

    reactor: Any = twisted_reactor

    def expire(channel: Any) -> None:
        transport = getattr(channel, "transport", None)
        if transport is not None and not getattr(channel, "_pr_request_done", False):
            logger.info("dropped a connection whose request took over %.0f s", seconds)
            transport.abortConnection()

    def arm(channel: Any) -> None:
        channel._pr_request_done = False
        channel._pr_deadline = reactor.callLater(seconds, expire, channel)

    class DeadlineRequest(http_protocol.WebRequest):
        """A request that must arrive whole before its connection's deadline."""

        def __init__(self, channel: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(channel, *args, **kwargs)
            deadline = getattr(channel, "_pr_deadline", None)
            if deadline is None or not deadline.active():
                arm(channel)  # a later request of a kept-alive connection

        def process(self) -> None:
            self.channel._pr_request_done = True
            deadline = getattr(self.channel, "_pr_deadline", None)
            if deadline is not None and deadline.active():
                deadline.cancel()
            super().process()

    class DeadlineHTTPFactory(http_protocol.HTTPFactory):
        def buildProtocol(self, addr: Any) -> Any:  # noqa: N802 - Twisted's name
            protocol = super().buildProtocol(addr)
            protocol.requestFactory = DeadlineRequest
            # Twisted wraps the HTTP channel in a protocol that can switch to HTTP/2; the
            # deadline belongs to the channel, which the requests see.
            arm(getattr(protocol, "_channel", protocol))
            return protocol

    daphne.server.HTTPFactory = DeadlineHTTPFactory


def install_close_codes() -> None:
    """Make Daphne close a WebSocket it refuses (a message over the size limit, a protocol
    error) with a close frame carrying the code (1009, 1002...), as the README promises,
    instead of dropping the TCP connection (autobahn's failByDrop, on by default)."""
    import daphne.server
    from daphne import ws_protocol

    class ClosingWebSocketFactory(ws_protocol.WebSocketFactory):
        def setProtocolOptions(self, **options: Any) -> None:  # noqa: N802 - autobahn's name
            super().setProtocolOptions(failByDrop=False, **options)

    daphne.server.WebSocketFactory = ClosingWebSocketFactory


def _as_is(value: Any, *_style: Any, **_options: Any) -> Any:
    return value


def install_plain_log_arguments() -> None:
    """Stop autobahn styling its log arguments on every frame.

    autobahn builds the arguments of a debug log line (the method's name and the byte count,
    coloured for a terminal by ``hltype``/``hlval``) for every frame it sends or receives,
    whether or not debug logging is on: about a tenth of the server's CPU under load. Passed
    as they are, they cost nothing, and the one error line that uses them is written without
    terminal colour codes, as a JSON log should be.
    """
    from autobahn.twisted import websocket as twisted_websocket
    from autobahn.websocket import protocol

    for module in (protocol, twisted_websocket):
        module.hltype = _as_is  # type: ignore[attr-defined]
        module.hlval = _as_is  # type: ignore[attr-defined]


def _has_option(args: Sequence[str], name: str) -> bool:
    return any(arg == name or arg.startswith(name + "=") for arg in args)


def daphne_arguments(args: Sequence[str], message_bytes: int) -> list[str]:
    """Daphne's command line: ``args``, the message size defaults, the application."""
    full = list(args)
    for option in ("--websocket-max-message-size", "--websocket-max-frame-size"):
        if not _has_option(full, option):
            full += [option, str(message_bytes)]
    return [*full, APPLICATION]


def main(argv: Sequence[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pianorhythm.settings")
    from daphne.cli import CommandLineInterface
    from django.conf import settings

    install_request_deadline(settings.HTTP_REQUEST_TIMEOUT)
    install_close_codes()
    install_plain_log_arguments()
    args = sys.argv[1:] if argv is None else argv
    CommandLineInterface().run(daphne_arguments(args, settings.WEBSOCKET_MAX_MESSAGE_BYTES))


if __name__ == "__main__":
    main()
