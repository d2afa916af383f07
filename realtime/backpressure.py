"""How many bytes a socket has queued but not yet written, where the server lets us see it.

Daphne's ASGI ``send`` never waits: a player who stops reading makes Twisted buffer every
frame in memory, without bound. Daphne hands each application ``partial(handle_reply,
protocol)``, and the protocol's Twisted transport knows its write backlog, so the session
can disconnect such a player (docs/security.md, Nothing a client sends can deafen or stall
others).

uvicorn's ``send`` waits while the socket's write buffer is over its high-water mark, so its
backlog stays bounded; but a player who never reads then leaves the session's writer waiting
for good, and a close frame would wait behind it too. Its ``send`` is a method of the
connection's protocol, whose asyncio transport can be read and dropped the same way: when
the session's bounded outbox fills, the player is dropped at once instead of lingering until
the pings time out.
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


#: The write buffer (bytes) past which an asyncio transport's ``send`` waits: above the
#: session's ``SEND_BACKLOG_LIMIT`` (512 KiB), so that its check after a send sees the backlog.
ASYNCIO_HIGH_WATER = 1024 * 1024


class _AsyncioTransport(Protocol):
    """What the probe uses of an asyncio (or uvloop) transport."""

    def get_write_buffer_size(self) -> int: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...

    def abort(self) -> None: ...


class TransportProbe:
    """The write backlog of one transport, and a way to drop it at once."""

    def backlog(self) -> int:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class TwistedProbe(TransportProbe):
    """The write backlog of one Twisted transport (Daphne), and a way to drop it at once."""

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


class AsyncioProbe(TransportProbe):
    """The write backlog of one asyncio transport (uvicorn), and a way to drop it at once.

    The transport's high-water mark goes up to ``ASYNCIO_HIGH_WATER``: at uvicorn's 64 KiB a
    send to a player who stopped reading would wait long before the backlog reached the
    session's limit, which then never sees it (the player would be dropped only once the
    outbox filled, some 20 s into a flood, against Daphne's second or so).
    """

    def __init__(self, transport: _AsyncioTransport) -> None:
        self._transport = transport
        transport.set_write_buffer_limits(high=ASYNCIO_HIGH_WATER)

    def backlog(self) -> int:
        return self._transport.get_write_buffer_size()

    def abort(self) -> None:
        self._transport.abort()


def transport_probe(send: Any) -> TransportProbe | None:
    """The probe for the transport behind ``send``, or None when the server is not one whose
    transport can be read."""
    if isinstance(send, functools.partial) and send.args:  # Daphne: partial(handle_reply, ...)
        transport: Any = getattr(send.args[0], "transport", None)
        needed = ("dataBuffer", "offset", "_tempDataLen", "abortConnection")
        if transport is not None and all(hasattr(transport, name) for name in needed):
            return TwistedProbe(transport)
        return None
    # uvicorn: a bound method of the connection's protocol, which holds its transport.
    # (uvloop's transports are not registered as asyncio.WriteTransport: duck-typed.)
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and all(
        callable(getattr(transport, name, None))
        for name in ("get_write_buffer_size", "set_write_buffer_limits", "abort")
    ):
        return AsyncioProbe(transport)
    return None
