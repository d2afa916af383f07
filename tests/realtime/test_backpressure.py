"""The transport probe finds the socket behind Daphne's and uvicorn's ``send``."""

from __future__ import annotations

import functools
from typing import Any

from realtime.backpressure import ASYNCIO_HIGH_WATER, AsyncioProbe, TwistedProbe, transport_probe


class AsyncioTransport:
    def __init__(self) -> None:
        self.high: int | None = None
        self.aborted = False

    def get_write_buffer_size(self) -> int:
        return 1234

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high = high

    def abort(self) -> None:
        self.aborted = True


class UvicornProtocol:
    def __init__(self) -> None:
        self.transport = AsyncioTransport()

    async def send(self, message: dict[str, Any]) -> None: ...


class TwistedTransport:
    dataBuffer = b"x" * 10  # noqa: N815 - Twisted's name
    offset = 4
    _tempDataLen = 3  # noqa: N815 - Twisted's name

    def abortConnection(self) -> None: ...  # noqa: N802 - Twisted's name


class DaphneProtocol:
    transport = TwistedTransport()


def test_uvicorns_send_gives_its_asyncio_transport_with_a_raised_high_water_mark() -> None:
    protocol = UvicornProtocol()
    probe = transport_probe(protocol.send)
    assert isinstance(probe, AsyncioProbe)
    assert probe.backlog() == 1234
    assert protocol.transport.high == ASYNCIO_HIGH_WATER
    probe.abort()
    assert protocol.transport.aborted


def test_daphnes_send_gives_its_twisted_transport() -> None:
    probe = transport_probe(functools.partial(print, DaphneProtocol()))
    assert isinstance(probe, TwistedProbe)
    assert probe.backlog() == 10 - 4 + 3


def test_any_other_send_gives_none() -> None:
    async def send(message: dict[str, Any]) -> None: ...

    assert transport_probe(send) is None
    assert transport_probe(functools.partial(print, object())) is None
