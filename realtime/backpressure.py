"""How many bytes a socket has queued but not yet written, where the server lets us see it.

Daphne's ASGI ``send`` never waits: a player who stops reading makes Twisted buffer every
frame in memory, without bound. Daphne hands each application ``partial(handle_reply,
protocol)``, and the protocol's Twisted transport knows its write backlog, so the session
can disconnect such a player (docs/security.md, Nothing a client sends can deafen or stall
others). Under a server whose ``send`` waits for the socket (uvicorn), the session's bounded
outbox does the same job and no probe is needed.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol


class _TwistedTransport(Protocol):
    """What the probe reads of a Twisted ``FileDescriptor`` transport (Twisted is untyped)."""

    dataBuffer: bytes  # noqa: N815 - Twisted's name
    offset: int
    _tempDataLen: int  # noqa: N815 - Twisted's name

    def abortConnection(self) -> None: ...  # noqa: N802 - Twisted's name


class TransportProbe:
    """The write backlog of one Twisted transport, and a way to drop it at once."""

    def __init__(self, transport: _TwistedTransport) -> None:
        self._transport = transport

    def backlog(self) -> int:
        """Bytes in the buffer being written plus bytes queued (Twisted's FileDescriptor)."""
        transport = self._transport
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def abort(self) -> None:
        """Drop the connection now. A close frame would wait behind the very backlog the
        player is not reading, and a graceful close waits for that backlog to drain."""
        self._transport.abortConnection()


def transport_probe(send: Any) -> TransportProbe | None:
    """The probe for the transport behind ``send``, or None when the server is not one whose
    transport can be read."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    transport: Any = getattr(send.args[0], "transport", None)
    needed = ("dataBuffer", "offset", "_tempDataLen", "abortConnection")
    if transport is None or not all(hasattr(transport, name) for name in needed):
        return None
    return TransportProbe(transport)
