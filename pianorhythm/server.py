"""Serve the project: ``python -m pianorhythm.server [--interface uvicorn] [options]``.

Daphne is the default (``make run``); ``--interface uvicorn`` serves it on uvicorn (uvloop,
httptools) with the same protections, below (docs/operations.md, Production server).

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

Under uvicorn (``uvicorn_config``) the same three hold: a request deadline of our own (uvicorn
has none for a request that trickles in: its keep-alive timeout starts again with every byte),
the message size limit (``ws_max_size``; uvicorn closes with 1009 on its own), and no
``X-Forwarded-*`` rewriting of the client address (the project reads X-Forwarded-For itself,
as far as ``NUM_PROXIES`` allows). Only ``-b``, ``-p``, ``--ping-interval``,
``--ping-timeout`` and ``--ws`` are taken there. What the application does for each server
(dropping a player who stops reading, the goodbye on SIGTERM) is in realtime.backpressure
and realtime.runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("pianorhythm.server")

APPLICATION = "pianorhythm.asgi:application"
INTERFACES = ("daphne", "uvicorn")
#: uvicorn's WebSocket implementations we accept; the first is the default.
UVICORN_WS = ("websockets-sansio", "websockets", "wsproto")
#: Daphne's own ping defaults, which uvicorn is given unless told otherwise.
PING_INTERVAL = 20.0
PING_TIMEOUT = 30.0
#: After SIGTERM, how long uvicorn waits for connections and tasks before cancelling them
#: (the project's own goodbye, realtime.runtime, takes at most a few seconds before that).
GRACEFUL_SHUTDOWN_SECONDS = 10


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


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with Daphne's request deadline (``install_request_deadline``):
    a request must arrive whole, line, headers and body, within ``deadline_seconds`` of the
    connection opening (or, on a kept-alive connection, of its first byte), or the connection
    is dropped. A WebSocket upgrade ends the deadline: an open socket is not a slow request."""

    deadline_seconds: float = 15.0
    _pr_deadline: asyncio.TimerHandle | None = None

    def _pr_arm(self) -> None:
        if self._pr_deadline is None:
            self._pr_deadline = self.loop.call_later(self.deadline_seconds, self._pr_expire)

    def _pr_disarm(self) -> None:
        if self._pr_deadline is not None:
            self._pr_deadline.cancel()
            self._pr_deadline = None

    def _pr_expire(self) -> None:
        self._pr_deadline = None
        if not self.transport.is_closing():
            logger.info(
                "dropped a connection whose request took over %.0f s", self.deadline_seconds
            )
            self.transport.abort()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._pr_arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._pr_disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._pr_arm()  # a later request of a kept-alive connection

    def on_message_complete(self) -> None:
        self._pr_disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._pr_disarm()
        super().handle_websocket_upgrade()


def deadline_protocol(seconds: float) -> type[DeadlineHttpToolsProtocol]:
    """``DeadlineHttpToolsProtocol`` with a deadline of ``seconds``."""
    return type(
        "DeadlineHttpToolsProtocol", (DeadlineHttpToolsProtocol,), {"deadline_seconds": seconds}
    )


def uvicorn_arguments(args: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pianorhythm.server --interface uvicorn")
    parser.add_argument("-b", "--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument("--ping-interval", type=float, default=PING_INTERVAL)
    parser.add_argument("--ping-timeout", type=float, default=PING_TIMEOUT)
    parser.add_argument("--ws", choices=UVICORN_WS, default=UVICORN_WS[0])
    return parser.parse_args(list(args))


def uvicorn_config(
    args: Sequence[str], message_bytes: int, request_seconds: float
) -> uvicorn.Config:
    """The project on uvicorn, with the protections the Daphne launcher gives Daphne."""
    options = uvicorn_arguments(args)
    return uvicorn.Config(
        APPLICATION,
        host=options.bind,
        port=options.port,
        loop="uvloop",
        http=deadline_protocol(request_seconds),
        ws=options.ws,
        ws_max_size=message_bytes,
        ws_ping_interval=options.ping_interval,
        ws_ping_timeout=options.ping_timeout,
        # Daphne negotiates no compression either; deflating every fan-out frame per
        # recipient would cost more CPU than the bandwidth is worth.
        ws_per_message_deflate=False,
        # Daphne has no lifespan and neither does the application (the runtime starts with
        # the first socket and stops on SIGTERM, realtime.runtime).
        lifespan="off",
        # The client address is the peer's; the project reads X-Forwarded-For itself, only as
        # far as NUM_PROXIES trusts it (uvicorn's default would trust any local peer's).
        proxy_headers=False,
        server_header=False,
        # Django's LOGGING configures every logger; requests are logged by the project.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def split_interface(args: Sequence[str]) -> tuple[str, list[str]]:
    """``--interface NAME`` (or ``--interface=NAME``) taken out of ``args``; Daphne if absent."""
    rest = list(args)
    interface = "daphne"
    for index, arg in enumerate(rest):
        if arg == "--interface" and index + 1 < len(rest):
            interface = rest[index + 1]
            del rest[index : index + 2]
            break
        if arg.startswith("--interface="):
            interface = arg.split("=", 1)[1]
            del rest[index]
            break
    if interface not in INTERFACES:
        raise SystemExit(f"--interface must be one of {', '.join(INTERFACES)}, not {interface!r}")
    return interface, rest


def main(argv: Sequence[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pianorhythm.settings")
    interface, args = split_interface(sys.argv[1:] if argv is None else argv)
    if interface == "uvicorn":
        from django.conf import settings

        config = uvicorn_config(
            args, settings.WEBSOCKET_MAX_MESSAGE_BYTES, settings.HTTP_REQUEST_TIMEOUT
        )
        uvicorn.Server(config).run()
        return

    from daphne.cli import CommandLineInterface
    from django.conf import settings

    install_request_deadline(settings.HTTP_REQUEST_TIMEOUT)
    install_close_codes()
    install_plain_log_arguments()
    CommandLineInterface().run(daphne_arguments(args, settings.WEBSOCKET_MAX_MESSAGE_BYTES))


if __name__ == "__main__":
    main()
