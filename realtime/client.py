"""A small async client for the real-time protocol v1, for bots, tests and the benchmark.

    async with PianoClient.connect("ws://127.0.0.1:8000/ws/") as client:
        room = await client.join("lobby")
        await client.chat("hello")
        await client.send_notes([("NOTE_ON", 60, 100, 0), ("NOTE_OFF", 60, 0, 300)])
        async for message in client.messages():
            print(message.WhichOneof("kind"))

``connect`` returns once the server's ``welcome`` has arrived (``client.session_id``,
``client.user``). A background task reads every frame, splits it into its ``ServerMessage``s
and keeps them, in order, for ``next_message`` / ``messages``; replies the client waits for
itself (``room_state`` or ``error`` after ``join``, ``time_sync``) are not kept. Another task
sends ``time_sync`` every 20 seconds, which keeps the socket alive and the clock offset fresh.
A frame the client cannot decode is logged and dropped; it never raises into the bot's loop.

This module is the ``websockets`` transport; building and decoding frames and the client's
state are ``realtime.client_core``'s, shared with the tests' and the load generator's clients.
The terminal client is ``python -m realtime.terminal``.

Standalone: no Django; only ``websockets`` and the generated protocol code.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Origin, Subprotocol

from realtime import client_core as core
from realtime.client_core import (
    ClientClosedError,
    ClientError,
    EncodingName,
    NoteLike,
    NoteTuple,
    SettingValue,
    chord,
    decode_server,
    encode_client,
    note_event,
    now_ms,
)
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

# The SDK's public names, wherever they are defined.
__all__ = [
    "JSON_SUBPROTOCOL",
    "KEEPALIVE_SECONDS",
    "PROTO_SUBPROTOCOL",
    "ClientClosedError",
    "ClientError",
    "EncodingName",
    "NoteLike",
    "NoteTuple",
    "PianoClient",
    "SettingValue",
    "chord",
    "decode_server",
    "encode_client",
    "note_event",
    "now_ms",
]

logger = logging.getLogger(__name__)

PROTO_SUBPROTOCOL = Subprotocol(core.PROTO_SUBPROTOCOL)
JSON_SUBPROTOCOL = Subprotocol(core.JSON_SUBPROTOCOL)

MessagePredicate: TypeAlias = Callable[[pb.ServerMessage], bool]

KEEPALIVE_SECONDS = 20.0
#: Messages kept for ``next_message`` before the oldest are dropped: a bot that never reads
#: must not grow without bound.
INBOX_LIMIT = 10_000
MAX_FRAME_BYTES = 4 * 1024 * 1024

# Timeouts use ``asyncio.timeout``, never ``asyncio.wait_for``: on Python 3.11, wait_for
# swallows a cancellation that arrives as the awaited future completes, which left close()
# waiting on a keepalive task that was meant to be cancelled.


def _with_ticket(url: str, ticket: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("ticket", ticket)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class _Waiter:
    __slots__ = ("future", "predicate")

    def __init__(self, predicate: MessagePredicate) -> None:
        self.predicate = predicate
        self.future: asyncio.Future[pb.ServerMessage] = asyncio.get_running_loop().create_future()


class PianoClient:
    """One connection to ``/ws/``. Make it with ``PianoClient.connect(...)``."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        ticket: str | None = None,
        encoding: EncodingName = "proto",
        origin: str | None = None,
        cookies: Mapping[str, str] | None = None,
        open_timeout: float = 10.0,
        keepalive_seconds: float | None = KEEPALIVE_SECONDS,
    ) -> None:
        if encoding not in ("proto", "json"):
            raise ValueError(f"encoding must be 'proto' or 'json', not {encoding!r}")
        self.url = url
        self.token = token
        self.ticket = ticket
        self.origin = origin
        self.cookies = dict(cookies or {})
        self.open_timeout = open_timeout
        self.keepalive_seconds = keepalive_seconds
        self.requested_encoding: EncodingName = encoding
        #: What the server agreed to speak (JSON when it echoes no subprotocol).
        self.encoding: EncodingName = encoding
        #: Who this client is, its room and the server's clock.
        self.state = core.ClientState()
        self.close_code: int | None = None
        self.close_reason = ""
        #: Frames that could not be decoded, and messages dropped because nobody read them.
        self.bad_frames = 0
        self.dropped_messages = 0
        self._connection: ClientConnection | None = None
        self._inbox: collections.deque[pb.ServerMessage] = collections.deque()
        self._arrived = asyncio.Event()
        self._waiters: list[_Waiter] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = True

    # --- connecting -----------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        ticket: str | None = None,
        encoding: EncodingName = "proto",
        origin: str | None = None,
        cookies: Mapping[str, str] | None = None,
        open_timeout: float = 10.0,
        keepalive_seconds: float | None = KEEPALIVE_SECONDS,
    ) -> _Connect:
        """Connect and wait for ``welcome``: ``async with`` it, or ``await`` it and ``close()``.

        ``token`` is an access JWT (sent as ``Authorization: Bearer``), ``ticket`` a single-use
        ticket from ``POST /api/v1/realtime/tickets``, ``cookies`` a browser session; with none
        of them the server makes a guest. Raises ``ClientClosedError`` (``refused`` set) when
        the server refuses the handshake.
        """
        client = cls(
            url,
            token=token,
            ticket=ticket,
            encoding=encoding,
            origin=origin,
            cookies=cookies,
            open_timeout=open_timeout,
            keepalive_seconds=keepalive_seconds,
        )
        return _Connect(client)

    async def open(self) -> None:
        """Open the socket and wait for ``welcome`` (``connect`` does this for you)."""
        if not self._closed:
            raise RuntimeError("already open")
        url = _with_ticket(self.url, self.ticket) if self.ticket else self.url
        headers: dict[str, str] = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        offered = [PROTO_SUBPROTOCOL if self.requested_encoding == "proto" else JSON_SUBPROTOCOL]
        try:
            connection = await websockets.connect(
                url,
                subprotocols=offered,
                additional_headers=headers,
                origin=Origin(self.origin) if self.origin else None,
                open_timeout=self.open_timeout,
                max_size=MAX_FRAME_BYTES,
                # Never route a game socket through an HTTP(S)_PROXY from the environment.
                proxy=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise ClientClosedError(status, f"HTTP {status}", refused=True) from exc
        except InvalidHandshake as exc:
            raise ClientClosedError(None, str(exc), refused=True) from exc
        self._connection = connection
        self.encoding = "proto" if connection.subprotocol == PROTO_SUBPROTOCOL else "json"
        self._closed = False
        self.close_code, self.close_reason = None, ""
        self.state.room = None
        welcome = self._expect(lambda m: m.WhichOneof("kind") == "welcome")
        self._tasks = [asyncio.create_task(self._read_frames(connection), name="piano-reader")]
        try:
            async with asyncio.timeout(self.open_timeout):
                message = await welcome.future
        except BaseException:
            await self.close()
            raise
        finally:
            self._forget(welcome)
        self.state.welcomed(message.welcome)
        if self.keepalive_seconds:
            self._tasks.append(
                asyncio.create_task(self._keepalive(self.keepalive_seconds), name="piano-sync")
            )

    async def reconnect(self, attempts: int = 1, delay: float = 0.5) -> None:
        """Close (if open), connect again with the same credentials and rejoin the last room.

        For a server restart (close 1012) or a lost connection. A ticket is single use, so a
        ticket-authenticated client cannot reconnect this way. Tries ``attempts`` times,
        ``delay`` seconds apart; raises the last failure.
        """
        if self.ticket:
            raise RuntimeError("a ticket is single use: get a new one and connect again")
        rejoin = self.state.join_request
        await self.close()
        for attempt in range(1, attempts + 1):
            try:
                await self.open()
                if rejoin is not None:
                    await self.join(rejoin[0], password=rejoin[1])
                return
            except (ClientClosedError, ClientError, TimeoutError, OSError):
                await self.close()
                if attempt == attempts:
                    raise
                await asyncio.sleep(delay)

    async def close(self) -> None:
        """Close the socket and stop the background tasks. Safe to call twice."""
        self._closed = True
        connection, self._connection = self._connection, None
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        self._tasks = []
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task must never hold up closing.
            await asyncio.wait(tasks, timeout=2.0)
        if connection is not None:
            await connection.close()
            if self.close_code is None and connection.close_code is not None:
                self.close_code, self.close_reason = (
                    connection.close_code,
                    connection.close_reason or "",
                )
        self._fail_waiters()
        self._arrived.set()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def welcome(self) -> pb.Welcome:
        return self.state.welcome

    @property
    def room(self) -> pb.RoomState | None:
        """The last ``room_state`` from ``join`` (None when not in a room)."""
        return self.state.room

    @property
    def session_id(self) -> str:
        return self.state.session_id

    @property
    def user(self) -> pb.UserInfo:
        return self.state.user

    # --- requests ---------------------------------------------------------------------------

    async def join(
        self,
        room_name: str,
        password: str = "",
        create_if_missing: bool = False,
        settings: pb.RoomSettings | Mapping[str, SettingValue] | None = None,
        timeout: float = 10.0,
    ) -> pb.RoomState:
        """Enter ``room_name`` and return its ``room_state``; ``ClientError`` if refused."""
        request = core.join_room(room_name, password, create_if_missing, settings)
        reply = await self._request(request, "room_state", "join_room", timeout)
        self.state.joined(reply.room_state, room_name, password)
        return reply.room_state

    async def leave(self) -> None:
        """Leave the current room; the socket stays open."""
        self.state.left()
        await self.send(pb.ClientMessage(leave_room=pb.LeaveRoom()))

    async def send_notes(self, notes: Sequence[NoteLike], start_time: float | None = None) -> None:
        """Send one note batch. ``start_time`` defaults to now on the server's clock."""
        when = self.server_now() if start_time is None else start_time
        await self.send(core.note_batch(notes, when))

    async def chat(self, text: str) -> None:
        await self.send(pb.ClientMessage(chat=pb.ChatSend(text=text)))

    async def cursor(self, x: float, y: float) -> None:
        await self.send(pb.ClientMessage(cursor=pb.Cursor(x=x, y=y)))

    async def moderate(
        self,
        action: int | str,
        target_user_id: str,
        duration_seconds: int = 0,
        reason: str = "",
    ) -> None:
        """``action`` is a ``ModerationAction`` value or name ("KICK", "BAN", "MUTE", ...)."""
        await self.send(core.moderate(action, target_user_id, duration_seconds, reason))

    async def update_room(self, **settings: SettingValue) -> None:
        """Change the current room's settings; only the ones named change."""
        message = pb.UpdateRoom(settings=core.room_settings(settings))
        await self.send(pb.ClientMessage(update_room=message))

    async def subscribe_room_list(self, subscribe: bool = True) -> None:
        await self.send(pb.ClientMessage(room_list=pb.SubscribeRoomList(subscribe=subscribe)))

    async def update_profile(
        self, display_name: str | None = None, color: str | None = None
    ) -> None:
        await self.send(core.update_profile(display_name, color))

    async def time_sync(self, timeout: float = 5.0) -> float:
        """Probe the server clock; returns the offset estimate (server minus local, ms)."""
        sent = now_ms()
        request = pb.ClientMessage(time_sync=pb.TimeSync(client_time=sent))
        # Matched by the echoed time (not by order) since the keepalive may probe meanwhile;
        # with a tolerance, as the JSON encoding may round the last digit of a double.
        waiter = self._expect(
            lambda m: (
                m.WhichOneof("kind") == "time_sync" and abs(m.time_sync.client_time - sent) < 0.001
            )
        )
        try:
            await self.send(request)
            async with asyncio.timeout(timeout):
                reply = await waiter.future
        finally:
            self._forget(waiter)
        return self.state.clock_sample(sent, now_ms(), reply.time_sync.server_time)

    @property
    def clock_offset(self) -> float:
        """Server clock minus this machine's clock, in ms (from ``time_sync``)."""
        return self.state.clock_offset

    def server_now(self) -> float:
        """The server's clock now, estimated, in ms since the epoch."""
        return self.state.server_now()

    async def send(self, message: pb.ClientMessage) -> None:
        """Send any ``ClientMessage``; ``ClientClosedError`` when the socket is closed."""
        connection = self._connection
        if connection is None or self._closed:
            raise ClientClosedError(self.close_code, self.close_reason)
        try:
            await connection.send(encode_client(message, self.encoding))
        except ConnectionClosed as exc:
            self._note_close(connection)
            raise ClientClosedError(self.close_code, self.close_reason) from exc

    # --- receiving --------------------------------------------------------------------------

    async def next_message(
        self,
        kind: str | None = None,
        timeout: float | None = 5.0,
        where: MessagePredicate | None = None,
    ) -> pb.ServerMessage:
        """The oldest kept message of oneof ``kind`` (any when None) matching ``where``.

        Messages that do not match stay kept, in order, for later calls. Raises
        ``TimeoutError`` after ``timeout`` seconds, and ``ClientClosedError`` once the socket
        is closed and nothing kept matches.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            self._arrived.clear()
            for index, message in enumerate(self._inbox):
                if (kind is None or message.WhichOneof("kind") == kind) and (
                    where is None or where(message)
                ):
                    del self._inbox[index]
                    return message
            if self._closed:
                raise ClientClosedError(self.close_code, self.close_reason)
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"no {kind or 'message'} within {timeout} s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()

    async def messages(self) -> AsyncIterator[pb.ServerMessage]:
        """Every message as it arrives, until the socket closes."""
        while True:
            try:
                yield await self.next_message(timeout=None)
            except ClientClosedError:
                return

    def pending(self) -> list[pb.ServerMessage]:
        """The kept messages nobody has taken yet, oldest first (they stay kept)."""
        return list(self._inbox)

    # --- internals --------------------------------------------------------------------------

    def _expect(self, predicate: MessagePredicate) -> _Waiter:
        waiter = _Waiter(predicate)
        self._waiters.append(waiter)
        return waiter

    def _forget(self, waiter: _Waiter) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    async def _request(
        self, message: pb.ClientMessage, reply_kind: str, request: str, timeout: float
    ) -> pb.ServerMessage:
        """Send ``message`` and wait for its ``reply_kind``, or raise its ``error``."""
        waiter = self._expect(
            lambda m: (
                m.WhichOneof("kind") == reply_kind
                or (m.WhichOneof("kind") == "error" and m.error.request == request)
            )
        )
        try:
            await self.send(message)
            async with asyncio.timeout(timeout):
                reply = await waiter.future
        finally:
            self._forget(waiter)
        if reply.WhichOneof("kind") == "error":
            raise ClientError.from_error(reply.error)
        return reply

    async def _read_frames(self, connection: ClientConnection) -> None:
        try:
            async for frame in connection:
                try:
                    messages = decode_server(frame)
                except ValueError as exc:
                    self.bad_frames += 1
                    logger.warning("Dropped an undecodable frame from the server: %s", exc)
                    continue
                for message in messages:
                    self._dispatch(message)
        except ConnectionClosed:
            pass
        finally:
            self._note_close(connection)
            self._closed = True
            self._fail_waiters()
            self._arrived.set()

    def _dispatch(self, message: pb.ServerMessage) -> None:
        for waiter in self._waiters:
            if not waiter.future.done() and waiter.predicate(message):
                waiter.future.set_result(message)
                return
        kind = message.WhichOneof("kind")
        if kind == "time_sync":
            return  # the answer to a probe that timed out
        if kind == "error" and not message.error.request:
            logger.warning("Server error: %s", ClientError.from_error(message.error))
        self.state.observe(message)
        if len(self._inbox) >= INBOX_LIMIT:
            self._inbox.popleft()
            self.dropped_messages += 1
        self._inbox.append(message)
        self._arrived.set()

    def _note_close(self, connection: ClientConnection) -> None:
        if self.close_code is None and connection.close_code is not None:
            self.close_code = connection.close_code
            self.close_reason = connection.close_reason or ""

    def _fail_waiters(self) -> None:
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(ClientClosedError(self.close_code, self.close_reason))

    async def _keepalive(self, interval: float) -> None:
        # A first probe right away replaces welcome's one-way clock estimate.
        while not self._closed:
            try:
                await self.time_sync(timeout=min(interval, 10.0))
            except TimeoutError:
                logger.info("No time_sync reply within 10 s")
            except ClientClosedError:
                return
            await asyncio.sleep(interval)


class _Connect:
    """What ``PianoClient.connect`` returns: awaitable and an async context manager."""

    def __init__(self, client: PianoClient) -> None:
        self._client = client

    def __await__(self) -> Generator[None, None, PianoClient]:
        return self._open().__await__()

    async def _open(self) -> PianoClient:
        await self._client.open()
        return self._client

    async def __aenter__(self) -> PianoClient:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._client.close()
