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

Run as a program, it is a terminal client (``python -m realtime.client --help``).

Standalone: no Django; only ``websockets`` and the generated protocol code.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Literal, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websockets
from google.protobuf import json_format
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import DecodeError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Origin, Subprotocol

from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

logger = logging.getLogger(__name__)

PROTO_SUBPROTOCOL = Subprotocol("pianorhythm.v1.proto")
JSON_SUBPROTOCOL = Subprotocol("pianorhythm.v1.json")

EncodingName: TypeAlias = Literal["proto", "json"]
#: A note as ``(type, key, velocity, delay_ms)`` or ``(type, key, velocity, delay_ms,
#: channel)``; ``type`` is a ``NoteEventType`` value or name ("NOTE_ON" or
#: "NOTE_EVENT_TYPE_NOTE_ON").
NoteTuple: TypeAlias = tuple[int | str, int, int, int] | tuple[int | str, int, int, int, int]
NoteLike: TypeAlias = pb.NoteEvent | NoteTuple
SettingValue: TypeAlias = int | bool | str
MessagePredicate: TypeAlias = Callable[[pb.ServerMessage], bool]

KEEPALIVE_SECONDS = 20.0
#: Messages kept for ``next_message`` before the oldest are dropped: a bot that never reads
#: must not grow without bound.
INBOX_LIMIT = 10_000
#: Clock samples kept; the offset comes from the one with the shortest round trip.
CLOCK_SAMPLES = 8
MAX_FRAME_BYTES = 4 * 1024 * 1024

# Timeouts use ``asyncio.timeout``, never ``asyncio.wait_for``: on Python 3.11, wait_for
# swallows a cancellation that arrives as the awaited future completes, which left close()
# waiting on a keepalive task that was meant to be cancelled.


class ClientError(Exception):
    """The server answered a request with ``error``.

    ``code`` is the ErrorCode short name ("ROOM_FULL", "WRONG_PASSWORD", ...), ``request``
    the ClientMessage field that failed ("join_room").
    """

    def __init__(self, code: str, message: str, request: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request = request

    @classmethod
    def from_error(cls, error: pb.Error) -> ClientError:
        return cls(
            _short_name(pb.ErrorCode, "ERROR_CODE_", error.code), error.message, error.request
        )


class ClientClosedError(ConnectionError):
    """The connection is closed (or was refused during the handshake).

    ``code`` is the WebSocket close code (1012: server restarting, retry; 4403: site-banned;
    ...), or the HTTP status of a refused handshake with ``refused`` set; ``None`` when the
    connection dropped without a close frame.
    """

    def __init__(self, code: int | None, reason: str = "", *, refused: bool = False) -> None:
        what = "handshake refused" if refused else "connection closed"
        super().__init__(f"{what} ({code}): {reason}" if reason else f"{what} ({code})")
        self.code = code
        self.reason = reason
        self.refused = refused


def _short_name(enum_type: EnumTypeWrapper, prefix: str, value: int) -> str:
    try:
        return enum_type.Name(value).removeprefix(prefix)
    except ValueError:
        return str(value)  # a value newer than this client


def _enum_value(enum_type: EnumTypeWrapper, prefix: str, value: int | str) -> int:
    """An enum's number from its number, full name or short name (prefix removed)."""
    if isinstance(value, int):
        return value
    name = value.upper()
    if not name.startswith(prefix):
        name = prefix + name
    try:
        return enum_type.Value(name)
    except ValueError:
        raise ValueError(f"unknown value {value!r} for {prefix}*") from None


def now_ms() -> float:
    """This machine's clock, ms since the epoch (the protocol's time unit)."""
    return time.time() * 1000.0


def note_event(
    event_type: int | str, key: int, velocity: int = 0, delay_ms: int = 0, channel: int = 0
) -> pb.NoteEvent:
    """One ``NoteEvent``; ``event_type`` is a ``NoteEventType`` value or name ("NOTE_ON")."""
    return pb.NoteEvent(
        type=_enum_value(pb.NoteEventType, "NOTE_EVENT_TYPE_", event_type),  # type: ignore[arg-type]
        key=key,
        velocity=velocity,
        delay_ms=delay_ms,
        channel=channel,
    )


def chord(keys: Iterable[int], velocity: int = 100, duration_ms: int = 400) -> list[pb.NoteEvent]:
    """NOTE_ON for every key now and NOTE_OFF after ``duration_ms`` (at most 1000)."""
    keys = list(keys)
    return [note_event("NOTE_ON", key, velocity, 0) for key in keys] + [
        note_event("NOTE_OFF", key, 0, min(duration_ms, 1000)) for key in keys
    ]


def _as_note(note: NoteLike) -> pb.NoteEvent:
    if isinstance(note, pb.NoteEvent):
        return note
    return note_event(*note)


def _room_settings(
    settings: pb.RoomSettings | Mapping[str, SettingValue] | None,
) -> pb.RoomSettings:
    if settings is None:
        return pb.RoomSettings()
    if isinstance(settings, pb.RoomSettings):
        return settings
    return pb.RoomSettings(**settings)  # type: ignore[arg-type]


def _with_ticket(url: str, ticket: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("ticket", ticket)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def encode_client(message: pb.ClientMessage, encoding: EncodingName) -> bytes | str:
    """One client frame: binary protobuf, or the canonical JSON as text."""
    if encoding == "proto":
        return message.SerializeToString()
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":"))


def decode_server(frame: bytes | str) -> list[pb.ServerMessage]:
    """The messages of one ``ServerFrame``, decoded by the frame's type (bytes: protobuf).

    Unknown fields are ignored so a newer server stays readable. Raises ``ValueError`` on
    anything that is not a ServerFrame.
    """
    server_frame = pb.ServerFrame()
    try:
        if isinstance(frame, bytes):
            server_frame.ParseFromString(frame)
        else:
            json_format.Parse(frame, server_frame, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, RecursionError) as exc:
        raise ValueError(f"not a ServerFrame: {str(exc)[:200]}") from exc
    return list(server_frame.messages)


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
        self.welcome = pb.Welcome()
        #: The last ``room_state`` from ``join`` (None when not in a room).
        self.room: pb.RoomState | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        #: Frames that could not be decoded, and messages dropped because nobody read them.
        self.bad_frames = 0
        self.dropped_messages = 0
        self._join_request: tuple[str, str] | None = None
        self._connection: ClientConnection | None = None
        self._inbox: collections.deque[pb.ServerMessage] = collections.deque()
        self._arrived = asyncio.Event()
        self._waiters: list[_Waiter] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = True
        self._clock_samples: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=CLOCK_SAMPLES
        )
        self._clock_offset = 0.0

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
        self.room = None
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
        self.welcome = message.welcome
        self._clock_offset = self.welcome.server_time - now_ms()
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
        rejoin = self._join_request
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
    def session_id(self) -> str:
        return self.welcome.session_id

    @property
    def user(self) -> pb.UserInfo:
        return self.welcome.user

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
        request = pb.ClientMessage(
            join_room=pb.JoinRoom(
                room_name=room_name,
                password=password,
                create_if_missing=create_if_missing,
                settings=_room_settings(settings),
            )
        )
        reply = await self._request(request, "room_state", "join_room", timeout)
        self.room = reply.room_state
        self._join_request = (reply.room_state.room.name or room_name, password)
        return reply.room_state

    async def leave(self) -> None:
        """Leave the current room; the socket stays open."""
        self.room = None
        self._join_request = None
        await self.send(pb.ClientMessage(leave_room=pb.LeaveRoom()))

    async def send_notes(self, notes: Sequence[NoteLike], start_time: float | None = None) -> None:
        """Send one note batch. ``start_time`` defaults to now on the server's clock."""
        batch = pb.NoteBatch(
            start_time=self.server_now() if start_time is None else start_time,
            notes=[_as_note(note) for note in notes],
        )
        await self.send(pb.ClientMessage(note_batch=batch))

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
        message = pb.Moderate(
            action=_enum_value(pb.ModerationAction, "MODERATION_ACTION_", action),  # type: ignore[arg-type]
            target_user_id=target_user_id,
            duration_seconds=duration_seconds,
            reason=reason,
        )
        await self.send(pb.ClientMessage(moderate=message))

    async def update_room(self, **settings: SettingValue) -> None:
        """Change the current room's settings; only the ones named change."""
        message = pb.UpdateRoom(settings=_room_settings(settings))
        await self.send(pb.ClientMessage(update_room=message))

    async def subscribe_room_list(self, subscribe: bool = True) -> None:
        await self.send(pb.ClientMessage(room_list=pb.SubscribeRoomList(subscribe=subscribe)))

    async def update_profile(
        self, display_name: str | None = None, color: str | None = None
    ) -> None:
        profile = pb.UpdateProfile()
        if display_name is not None:
            profile.display_name = display_name
        if color is not None:
            profile.color = color
        await self.send(pb.ClientMessage(update_profile=profile))

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
        received = now_ms()
        round_trip = received - sent
        self._clock_samples.append(
            (round_trip, reply.time_sync.server_time - (sent + received) / 2)
        )
        # NTP's rule of thumb: the sample with the shortest round trip is the least skewed.
        self._clock_offset = min(self._clock_samples)[1]
        return self._clock_offset

    @property
    def clock_offset(self) -> float:
        """Server clock minus this machine's clock, in ms (from ``time_sync``)."""
        return self._clock_offset

    def server_now(self) -> float:
        """The server's clock now, estimated, in ms since the epoch."""
        return now_ms() + self._clock_offset

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
        elif kind == "removed":
            self.room = None
            self._join_request = None
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


# --- terminal client --------------------------------------------------------------------------

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
HELP = "Type a line to chat. /play 60 64 67 plays a chord, /leave, /join ROOM, /quit."


def note_name(key: int) -> str:
    return f"{NOTE_NAMES[key % 12]}{key // 12 - 1}"


class _Terminal:
    """Prints what happens in the room as lines; sends typed lines as chat or commands."""

    def __init__(self, client: PianoClient, out: Callable[[str], None]) -> None:
        self.client = client
        self.out = out
        self.names: dict[str, str] = {}

    def remember(self, members: Iterable[pb.Member]) -> None:
        for member in members:
            self.names[member.session_id] = member.user.display_name or member.user.username

    def name(self, session_id: str) -> str:
        return self.names.get(session_id, session_id[:8] or "?")

    def show_room(self, state: pb.RoomState) -> None:
        self.names.clear()
        self.remember(state.members)
        self.out(f"* in {state.room.name}: {', '.join(sorted(self.names.values()))}")
        for line in state.recent_chat:
            self.out(f"<{line.display_name}> {line.text}")

    def show(self, message: pb.ServerMessage) -> None:
        kind = message.WhichOneof("kind")
        if kind == "note_batch":
            played = [
                note_name(n.key)
                for n in message.note_batch.notes
                if n.type == pb.NOTE_EVENT_TYPE_NOTE_ON
            ]
            if played:
                self.out(f"♪ {self.name(message.note_batch.session_id)}: {' '.join(played)}")
        elif kind == "chat":
            self.out(f"<{message.chat.display_name}> {message.chat.text}")
        elif kind == "member_joined":
            self.remember([message.member_joined.member])
            self.out(f"* {self.name(message.member_joined.member.session_id)} joined")
        elif kind == "member_updated":
            self.remember([message.member_updated.member])
        elif kind == "member_left":
            self.out(f"* {self.name(message.member_left.session_id)} left")
            self.names.pop(message.member_left.session_id, None)
        elif kind == "error":
            self.out(f"! {ClientError.from_error(message.error)}")
        elif kind == "removed":
            reason = _short_name(pb.RemovalReason, "REMOVAL_REASON_", message.removed.reason)
            self.out(f"! removed from the room: {reason} {message.removed.message}")
        elif kind == "room_updated":
            self.out(f"* room updated: {message.room_updated.room.name}")

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means quit."""
        line = line.rstrip("\n")
        if line in ("/quit", "/exit"):
            return False
        if line.startswith("/play"):
            try:
                keys = [int(word) for word in line.split()[1:]]
            except ValueError:
                self.out("! usage: /play 60 64 67 (MIDI keys 0-127)")
                return True
            await self.client.send_notes(chord(keys))
            self.out(f"♪ you: {' '.join(note_name(k) for k in keys if 0 <= k <= 127)}")
        elif line.startswith("/join "):
            try:
                self.show_room(await self.client.join(line.removeprefix("/join ").strip()))
            except ClientError as exc:
                self.out(f"! {exc}")
        elif line == "/leave":
            await self.client.leave()
        elif line.startswith("/"):
            self.out(HELP)
        elif line.strip():
            await self.client.chat(line)
        return True


def _stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines typed on stdin, read by a daemon thread (None at end of input)."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return lines


async def run_terminal(args: argparse.Namespace) -> int:
    def out(line: str) -> None:
        print(line, flush=True)

    async with PianoClient.connect(
        args.url, token=args.token, encoding=args.encoding, origin=args.origin
    ) as client:
        out(f"* connected as {client.user.display_name} ({client.session_id[:8]})")
        if args.name:
            await client.update_profile(display_name=args.name)
        terminal = _Terminal(client, out)
        terminal.show_room(
            await client.join(args.room, password=args.password, create_if_missing=args.create)
        )
        out(f"* {HELP}")
        lines = _stdin_lines(asyncio.get_running_loop())

        async def show_messages() -> None:
            async for message in client.messages():
                terminal.show(message)

        printer = asyncio.create_task(show_messages())
        try:
            while (line := await lines.get()) is not None and not client.closed:
                if not await terminal.handle_line(line):
                    break
        finally:
            printer.cancel()
        if client.closed:
            out(f"* connection closed ({client.close_code}) {client.close_reason}")
            return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m realtime.client", description="Terminal client for PianoRhythm."
    )
    parser.add_argument("url", help="e.g. ws://127.0.0.1:8000/ws/")
    parser.add_argument("--room", default="lobby")
    parser.add_argument("--name", help="display name to use")
    parser.add_argument("--password", default="", help="room password")
    parser.add_argument("--create", action="store_true", help="create the room if missing")
    parser.add_argument("--token", help="access JWT (default: play as a guest)")
    parser.add_argument("--origin", help="Origin header to send")
    parser.add_argument("--encoding", choices=("proto", "json"), default="proto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return asyncio.run(run_terminal(args))
    except ClientError as exc:
        print(f"! {exc}", file=sys.stderr)
    except ClientClosedError as exc:
        print(f"! {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
