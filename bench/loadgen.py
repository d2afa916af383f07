"""Open-loop WebSocket load generator for the fan-out benchmark (README, Benchmark).

R rooms x C clients; the first S clients of each room are senders, each sending one note batch
at a fixed rate whatever the replies (open loop). Every client receives; each delivery's
latency is its receive time minus the send time embedded in the batch (one machine, one
clock). Batches carry a per-sender sequence number and the step number, so receivers count
duplicates and the main process counts losses (expected deliveries minus unique ones).

Wires:
- ``proto``: the project, ``pianorhythm.v1.proto``. The send time is ``NoteBatch.start_time``
  (the server relays it unchanged); the sequence number is in the first three notes' keys
  (7 bits each), the step in the fourth note's key and the sender's server instance in its
  channel, every note a NOTE_ON at velocity 64. A 1-note batch holds them in its one note:
  the sequence number as ``key | delay_ms << 7``, the step as ``velocity - 64`` (steps count
  modulo 64), the instance in its channel.
- ``json``: the project, ``pianorhythm.v1.json``, same fields.
- ``simple``: one JSON object per frame, ``{"s": sender, "q": seq, "k": step, "i": instance,
  "t": send_ms, "notes": [...]}``, for the textbook baseline and the bare ASGI ceiling at
  ``/ws/<room>/``, which relay it unchanged (the baseline also echoes it to its sender, which
  ignores its own).

``bench/node/loadgen.js`` is a second generator, in Node.js, framing batches the same way.

The project's two wires build and read frames with ``realtime.client_core``, the protocol
core the SDK and the tests' client share (its lean functions: this is the hot path).

Clients are spread over worker processes (uvloop, picows by default) that keep their sockets
across steps; each reports its own CPU so a run where the generator saturated is flagged.

Run alone, e.g. against ``make serve``::

    python -m bench.loadgen --base ws://127.0.0.1:8000 --http http://127.0.0.1:8000 \\
        --wire proto --deliveries 5000 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import secrets
import sys
import time
import urllib.parse
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.stats import Delivery, LatencySummary, SequenceTracker, expected_deliveries
from harness.processes import http_json
from realtime import client_core

WIRES = ("proto", "json", "simple")
SUBPROTOCOL = client_core.SUBPROTOCOLS
#: A worker using more than this share of one core during a step was the bottleneck.
SATURATED_CPU = 0.90
CONNECT_CONCURRENCY = 64


# --------------------------------------------------------------------------------------------
# What to connect
# --------------------------------------------------------------------------------------------


@dataclass
class Layout:
    """Who connects where. ``bases`` holds one ``ws://host:port`` per server instance; the
    clients of a room alternate between them, so with two instances half of every room's
    traffic crosses instances."""

    wire: str
    bases: list[str]
    rooms: list[str]
    clients: int = 20
    senders: int = 4
    notes: int = 4
    backend: str = "picows"

    def __post_init__(self) -> None:
        if self.wire not in WIRES:
            raise ValueError(f"wire must be one of {WIRES}, not {self.wire!r}")
        if not 1 <= self.senders <= self.clients:
            raise ValueError("senders must be between 1 and clients")
        if self.clients < 2:
            raise ValueError("a room needs at least 2 clients")
        if not (self.notes == 1 or 4 <= self.notes <= 300):
            raise ValueError("notes per batch must be 1 or between 4 and 300")
        if not self.bases or not self.rooms:
            raise ValueError("at least one base URL and one room are needed")

    @property
    def total_senders(self) -> int:
        return len(self.rooms) * self.senders

    def rate_for(self, deliveries_per_s: float) -> float:
        """Batches per second per sender that make ``deliveries_per_s`` in all."""
        return deliveries_per_s / (self.total_senders * (self.clients - 1))

    def url(self, instance: int, room: str) -> str:
        base = self.bases[instance].rstrip("/")
        return f"{base}/ws/{room}/" if self.wire == "simple" else f"{base}/ws/"


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def encode_seq(seq: int) -> tuple[int, int, int]:
    """A sequence number (< 2**21) as three 7-bit MIDI keys."""
    if not 0 <= seq < 1 << 21:
        raise ValueError("sequence number out of range")
    return seq & 127, (seq >> 7) & 127, (seq >> 14) & 127


def decode_seq(k0: int, k1: int, k2: int) -> int:
    return k0 | (k1 << 7) | (k2 << 14)


#: The velocity of every note of a batch of 4 or more; a 1-note batch adds the step to it.
VELOCITY = 64
#: The highest sequence number a 1-note batch holds (``key | delay_ms << 7``).
MAX_SEQ_ONE_NOTE = 128 * 1001 - 1


def _note_fields(seq: int, step: int, instance: int, count: int) -> list[tuple[int, int, int]]:
    """(key, delay_ms, channel) of each note of a batch."""
    if count == 1:
        if not 0 <= seq <= MAX_SEQ_ONE_NOTE:
            raise ValueError("sequence number out of range")
        return [(seq & 127, seq >> 7, instance & 15)]
    k0, k1, k2 = encode_seq(seq)
    fields = [(k0, 0, 0), (k1, 0, 0), (k2, 0, 0), (step & 127, 0, instance & 15)]
    fields.extend((60 + i % 24, i * 3 % 1000, 0) for i in range(count - 4))
    return fields


def encode_batch(wire: str, sender: str, seq: int, step: int, instance: int, count: int) -> Any:
    """One client frame holding one note batch sent now."""
    now = time.time() * 1000.0
    fields = _note_fields(seq, step, instance, count)
    if wire == "simple":
        return json.dumps(
            {"s": sender, "q": seq, "k": step, "i": instance, "t": now, "notes": fields},
            separators=(",", ":"),
        )
    velocity = VELOCITY + (step & 63) if count == 1 else VELOCITY
    encoding: client_core.EncodingName = "json" if wire == "json" else "proto"
    return client_core.note_on_batch_frame(encoding, now, fields, velocity)


# --------------------------------------------------------------------------------------------
# One client (inside a worker)
# --------------------------------------------------------------------------------------------


class Client:
    """One socket: what it received in the current step, and how to send and pause."""

    def __init__(self, index: int, room: str, instance: int, sender: bool, wire: str) -> None:
        self.index = index
        self.room = room
        self.instance = instance
        self.sender = sender
        self.wire = wire
        self.name = f"c{index}"  # the sender name on the simple wire
        self.session_id = ""  # the project's, from welcome
        self.tracker = SequenceTracker()
        self.lat_local: array[float] = array("d")
        self.lat_cross: array[float] = array("d")
        self.step = -1  # the step being counted; -1 counts nothing
        self.stale = 0
        self.frames = 0
        self.last_frame = 0.0
        self.close_code: int | None = None
        self.errors: Counter[str] = Counter()
        self.welcome: asyncio.Future[str] | None = None
        self.joined: asyncio.Future[None] | None = None
        self.conn: Connection | None = None

    def begin_step(self, step: int) -> None:
        self.tracker = SequenceTracker()
        self.lat_local = array("d")
        self.lat_cross = array("d")
        self.stale = 0
        self.step = step

    # -- receive ----------------------------------------------------------------------------

    def on_payload(self, payload: bytes | str) -> None:
        self.frames += 1
        now = time.time() * 1000.0
        self.last_frame = now
        if self.wire == "proto":
            self._on_proto(payload, now)
        elif self.wire == "json":
            self._on_json(payload, now)
        else:
            self._on_simple(payload, now)

    def _count(
        self, sender: str, seq: int, step: int, instance: int, sent: float, now: float
    ) -> None:
        if step != self.step:
            self.stale += 1
            return
        if self.tracker.record(sender, seq):
            (self.lat_local if instance == self.instance else self.lat_cross).append(now - sent)

    def _on_proto(self, payload: bytes | str, now: float) -> None:
        # The proto wire's server frames are binary: ``payload`` is bytes here.
        for message in client_core.parse_server_frame(payload).messages:  # type: ignore[arg-type]
            kind = message.WhichOneof("kind")
            if kind == "note_batch":
                batch = message.note_batch
                notes = batch.notes
                if len(notes) == 1:
                    one = notes[0]
                    seq = one.key | (one.delay_ms << 7)
                    step = one.velocity - VELOCITY
                    self._count(batch.session_id, seq, step, one.channel, batch.start_time, now)
                    continue
                if len(notes) < 4:
                    self.errors["short batch"] += 1
                    continue
                seq = notes[0].key | (notes[1].key << 7) | (notes[2].key << 14)
                fourth = notes[3]
                self._count(
                    batch.session_id, seq, fourth.key, fourth.channel, batch.start_time, now
                )
            else:
                self._on_control(kind or "", message)

    def _on_control(self, kind: str, message: Any) -> None:
        if kind == "welcome":
            if self.welcome is not None and not self.welcome.done():
                self.welcome.set_result(message.welcome.session_id)
        elif kind == "room_state":
            if self.joined is not None and not self.joined.done():
                self.joined.set_result(None)
        elif kind == "error":
            code = str(message.error.code)
            self.errors[code] += 1
            if self.joined is not None and not self.joined.done():
                self.joined.set_exception(RuntimeError(f"join refused: {message.error.message}"))

    def _on_json(self, payload: bytes | str, now: float) -> None:
        for message in json.loads(payload).get("messages", ()):
            batch = message.get("noteBatch")
            if batch is None:
                self._on_json_control(message)
                continue
            notes = batch.get("notes", ())
            if len(notes) == 1:
                one = notes[0]
                self._count(
                    batch.get("sessionId", ""),
                    one.get("key", 0) | (one.get("delayMs", 0) << 7),
                    one.get("velocity", 0) - VELOCITY,
                    one.get("channel", 0),
                    float(batch.get("startTime", 0)),
                    now,
                )
                continue
            if len(notes) < 4:
                self.errors["short batch"] += 1
                continue
            seq = decode_seq(notes[0].get("key", 0), notes[1].get("key", 0), notes[2].get("key", 0))
            fourth = notes[3]
            self._count(
                batch.get("sessionId", ""),
                seq,
                fourth.get("key", 0),
                fourth.get("channel", 0),
                float(batch.get("startTime", 0)),
                now,
            )

    def _on_json_control(self, message: dict[str, Any]) -> None:
        if "welcome" in message:
            if self.welcome is not None and not self.welcome.done():
                self.welcome.set_result(message["welcome"].get("sessionId", ""))
        elif "roomState" in message:
            if self.joined is not None and not self.joined.done():
                self.joined.set_result(None)
        elif "error" in message:
            self.errors[message["error"].get("code", "?")] += 1
            if self.joined is not None and not self.joined.done():
                self.joined.set_exception(RuntimeError(f"join refused: {message['error']}"))

    def _on_simple(self, payload: bytes | str, now: float) -> None:
        data = json.loads(payload)
        sender = data["s"]
        if sender == self.name:  # the baseline echoes to the sender
            return
        self._count(sender, data["q"], data["k"], data["i"], data["t"], now)

    def on_closed(self, code: int | None) -> None:
        self.close_code = code if code is not None else -1
        for future in (self.welcome, self.joined):
            if future is not None and not future.done():
                future.set_exception(ConnectionError(f"closed with {code}"))

    # -- send -------------------------------------------------------------------------------

    def send_batch(self, seq: int, step: int, notes: int) -> None:
        if self.conn is None:
            raise RuntimeError("not connected")
        sender = self.name if self.wire == "simple" else self.session_id
        self.conn.send(encode_batch(self.wire, sender, seq, step, self.instance, notes))

    @property
    def open(self) -> bool:
        return self.conn is not None and self.close_code is None


# --------------------------------------------------------------------------------------------
# Connections: picows (fast, Cython) or websockets (for comparison)
# --------------------------------------------------------------------------------------------


class Connection:
    def send(self, frame: bytes | str) -> None:
        raise NotImplementedError

    def pause_reading(self) -> None:
        raise NotImplementedError

    def resume_reading(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def origin_of(url: str) -> str:
    """The origin of the page a browser would open ``url`` from (``ws://host:port/...`` →
    ``http://host:port``): the project accepts sockets from its own origin only."""
    parts = urllib.parse.urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


def player_address(index: int) -> str:
    """The address client ``index`` claims to come from (10.0.0.0/8): each simulated player
    is its own person, as the server's per-player limits count them. A target trusts it only
    behind one proxy (``NUM_PROXIES=1``); the others ignore the header."""
    return f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"


async def open_connection(
    backend: str, client: Client, url: str, subprotocol: str | None
) -> Connection:
    headers = {"Origin": origin_of(url), "X-Forwarded-For": player_address(client.index)}
    if subprotocol:
        headers["Sec-WebSocket-Protocol"] = subprotocol
    if backend == "picows":
        return await _PicowsConnection.open(client, url, headers)
    if backend == "websockets":
        return await _WebsocketsConnection.open(client, url, headers)
    raise ValueError(f"unknown backend {backend!r}")


class _PicowsConnection(Connection):
    def __init__(self, transport: Any) -> None:
        self.transport = transport

    @classmethod
    async def open(cls, client: Client, url: str, headers: dict[str, str]) -> Connection:
        import picows

        text, binary, close = picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CLOSE

        class Listener(picows.WSListener):
            def __init__(self) -> None:
                self.parts: list[bytes] = []
                self.kind: Any = None

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                kind = frame.msg_type
                if kind == close:
                    client.on_closed(int(frame.get_close_code().value))
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()
                    return
                if kind in (text, binary) and frame.fin:
                    payload = frame.get_payload_as_bytes()
                    client.on_payload(payload.decode() if kind == text else payload)
                elif kind in (text, binary):
                    self.kind, self.parts = kind, [frame.get_payload_as_bytes()]
                elif kind == picows.WSMsgType.CONTINUATION:
                    self.parts.append(frame.get_payload_as_bytes())
                    if frame.fin:
                        whole = b"".join(self.parts)
                        self.parts = []
                        client.on_payload(whole.decode() if self.kind == text else whole)

            def on_ws_disconnected(self, transport: Any) -> None:
                if client.close_code is None:
                    client.on_closed(None)

        transport, _listener = await picows.ws_connect(
            Listener,
            url,
            extra_headers=headers,
            websocket_handshake_timeout=30,
            max_frame_size=16 * 1024 * 1024,
            enable_auto_pong=True,
        )
        return cls(transport)

    def send(self, frame: bytes | str) -> None:
        import picows

        if isinstance(frame, str):
            self.transport.send(picows.WSMsgType.TEXT, frame.encode())
        else:
            self.transport.send(picows.WSMsgType.BINARY, frame)

    def pause_reading(self) -> None:
        self.transport.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.underlying_transport.resume_reading()

    async def close(self) -> None:
        self.transport.disconnect(graceful=False)


class _WebsocketsConnection(Connection):
    def __init__(self, ws: Any, client: Client) -> None:
        self.ws = ws
        self.client = client
        self.reader = asyncio.get_running_loop().create_task(self._read())
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, client: Client, url: str, headers: dict[str, str]) -> Connection:
        from websockets.asyncio.client import connect

        subprotocol = headers.pop("Sec-WebSocket-Protocol", None)
        origin = headers.pop("Origin")
        ws = await connect(
            url,
            origin=origin,  # type: ignore[arg-type]
            additional_headers=headers,
            subprotocols=[subprotocol] if subprotocol else None,  # type: ignore[list-item]
            max_size=16 * 1024 * 1024,
            compression=None,
            open_timeout=30,
        )
        return cls(ws, client)

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in self.ws:
                self.client.on_payload(message)
        except ConnectionClosed:
            pass
        code = self.ws.close_code
        self.client.on_closed(code)

    def send(self, frame: bytes | str) -> None:
        task = asyncio.get_running_loop().create_task(self.ws.send(frame))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def pause_reading(self) -> None:
        self.ws.transport.pause_reading()

    def resume_reading(self) -> None:
        self.ws.transport.resume_reading()

    async def close(self) -> None:
        self.reader.cancel()
        self.ws.transport.abort()


# --------------------------------------------------------------------------------------------
# Worker process
# --------------------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def raise_file_limit() -> int:
    """Raise this process's open-file soft limit to its hard limit; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Worker:
    """The clients of one worker process and the commands the main process sends it."""

    def __init__(self, layout: Layout, worker: int, workers: int) -> None:
        self.layout = layout
        self.clients: list[Client] = []
        self.idle: list[Client] = []
        index = 0
        for room in layout.rooms:
            for k in range(layout.clients):
                if index % workers == worker:
                    instance = k % len(layout.bases)
                    self.clients.append(
                        Client(index, room, instance, k < layout.senders, layout.wire)
                    )
                index += 1

    async def _connect_one(self, client: Client, join: bool) -> None:
        layout = self.layout
        loop = asyncio.get_running_loop()
        if layout.wire != "simple":
            client.welcome = loop.create_future()
        client.conn = await open_connection(
            layout.backend,
            client,
            layout.url(client.instance, client.room),
            SUBPROTOCOL.get(layout.wire),
        )
        if client.welcome is None:
            return
        client.session_id = await asyncio.wait_for(client.welcome, 30)
        if not join:
            return
        client.joined = loop.create_future()
        encoding: client_core.EncodingName = "proto" if layout.wire == "proto" else "json"
        client.conn.send(client_core.encode_client(client_core.join_room(client.room), encoding))
        await asyncio.wait_for(client.joined, 30)

    async def _connect_all(self, clients: Sequence[Client], join: bool) -> dict[str, Any]:
        limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
        failures: Counter[str] = Counter()

        async def one(client: Client) -> None:
            async with limit:
                try:
                    await self._connect_one(client, join)
                except Exception as exc:
                    failures[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                    client.close_code = client.close_code or -2

        started = time.monotonic()
        await asyncio.gather(*(one(c) for c in clients))
        return {
            "connected": sum(1 for c in clients if c.open),
            "failures": dict(failures),
            "seconds": round(time.monotonic() - started, 3),
        }

    async def connect(self) -> dict[str, Any]:
        return await self._connect_all(self.clients, join=True)

    async def open_idle(self, count: int, base: str, first_index: int) -> dict[str, Any]:
        layout = self.layout
        fresh = [
            Client(first_index + i, "idle", self.layout.bases.index(base), False, layout.wire)
            for i in range(count)
        ]
        self.idle.extend(fresh)
        return await self._connect_all(fresh, join=False)

    async def close_idle(self) -> dict[str, Any]:
        for client in self.idle:
            if client.conn is not None:
                await client.conn.close()
        closed = len(self.idle)
        self.idle = []
        return {"closed": closed}

    async def quiet(self, idle_for: float, limit: float) -> dict[str, Any]:
        """Wait until no client received anything for ``idle_for`` s (at most ``limit`` s)."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            newest = max((c.last_frame for c in self.clients), default=0.0)
            if time.time() * 1000.0 - newest >= idle_for * 1000.0:
                break
            await asyncio.sleep(0.1)
        return {"waited": round(time.monotonic() - started, 3)}

    async def step(self, spec: dict[str, Any]) -> dict[str, Any]:
        step = int(spec["step"]) & 63  # a 1-note batch holds the step in 6 bits
        rate = float(spec["rate"])
        duration = float(spec["duration"])
        slow = set(spec.get("slow", ()))
        loop = asyncio.get_running_loop()
        for client in self.clients:
            client.begin_step(step if client.index not in slow else -1)
            client.errors.clear()
        paused = [c for c in self.clients if c.index in slow and c.conn is not None and c.open]
        for client in paused:
            if client.conn is not None:
                client.conn.pause_reading()

        # Everyone starts at the same wall-clock moment.
        await asyncio.sleep(max(float(spec["start_at"]) - time.time(), 0.0))
        start = loop.time()
        end = start + duration
        cpu_before = _cpu_seconds()
        senders = [c for c in self.clients if c.sender and c.open]
        results = await asyncio.gather(
            *(self._send_loop(c, rate, start, end, step) for c in senders)
        )
        send_wall = loop.time() - start
        cpu = (_cpu_seconds() - cpu_before) / send_wall if send_wall > 0 else 0.0
        await asyncio.sleep(float(spec["drain"]))
        for client in self.clients:
            client.step = -1

        slow_report: list[dict[str, Any]] = []
        for client in paused:
            frames_before = client.frames
            if client.conn is not None:
                client.conn.resume_reading()
            await asyncio.sleep(1.0)
            slow_report.append(
                {
                    "client": client.index,
                    "close_code": client.close_code,
                    "frames_after_resume": client.frames - frames_before,
                }
            )

        sent_by_room: Counter[str] = Counter()
        for client, (sent, _lag) in zip(senders, results, strict=True):
            sent_by_room[client.room] += sent
        counted = [c for c in self.clients if c.index not in slow]
        receivers: Counter[str] = Counter(c.room for c in counted)
        local = array("d")
        cross = array("d")
        errors: Counter[str] = Counter()
        for client in counted:
            local.extend(client.lat_local)
            cross.extend(client.lat_cross)
            errors.update(client.errors)
        return {
            "sent_by_room": dict(sent_by_room),
            "receivers_by_room": dict(receivers),
            "delivered": sum(c.tracker.unique for c in counted),
            "duplicates": sum(c.tracker.duplicates for c in counted),
            "stale": sum(c.stale for c in counted),
            "closed": sum(1 for c in self.clients if c.close_code is not None),
            "close_codes": dict(Counter(str(c.close_code) for c in self.clients if c.close_code)),
            "errors": dict(errors),
            "max_send_lag_ms": round(max((lag for _s, lag in results), default=0.0) * 1000, 3),
            "cpu": round(cpu, 4),
            "local": local.tobytes(),
            "cross": cross.tobytes(),
            "slow": slow_report,
        }

    async def _send_loop(
        self, client: Client, rate: float, start: float, end: float, step: int
    ) -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        interval = 1.0 / rate
        due = start + random.random() * interval
        seq = 0
        lag = 0.0
        notes = self.layout.notes
        while due < end and client.open:
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                lag = max(lag, -wait)
            client.send_batch(seq, step, notes)
            seq += 1
            due += interval
        return seq, lag

    async def close(self) -> None:
        for client in self.clients + self.idle:
            if client.conn is not None:
                with contextlib.suppress(Exception):
                    await client.conn.close()


def _worker_main(
    layout: Layout, worker: int, workers: int, conn: multiprocessing.connection.Connection
) -> None:
    raise_file_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # still works, only slower; the report says which loop ran
        pass
    asyncio.run(_worker_loop(layout, worker, workers, conn))


async def _worker_loop(
    layout: Layout, worker: int, workers: int, conn: multiprocessing.connection.Connection
) -> None:
    state = Worker(layout, worker, workers)
    loop = asyncio.get_running_loop()
    while True:
        command, args = await loop.run_in_executor(None, conn.recv)
        try:
            if command == "connect":
                reply: Any = await state.connect()
            elif command == "step":
                reply = await state.step(args)
            elif command == "idle":
                reply = await state.open_idle(**args)
            elif command == "close_idle":
                reply = await state.close_idle()
            elif command == "quiet":
                reply = await state.quiet(**args)
            elif command == "quit":
                await state.close()
                conn.send(("ok", {}))
                return
            else:
                raise ValueError(f"unknown command {command!r}")
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ok", reply))


# --------------------------------------------------------------------------------------------
# Main process side
# --------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    target_deliveries_per_s: float
    rate_per_sender: float
    duration_s: float
    sent: int
    expected: int
    delivered: int
    duplicates: int
    lost: int
    delivered_ratio: float
    deliveries_per_s: float
    latency: dict[str, float]
    latency_local: dict[str, float]
    latency_cross: dict[str, float]
    stale: int
    closed: int
    close_codes: dict[str, int]
    errors: dict[str, int]
    generator_cpu: list[float]
    generator_saturated: bool
    max_send_lag_ms: float
    slow: list[dict[str, Any]] = field(default_factory=list)
    server: dict[str, Any] = field(default_factory=dict)

    def passed(self, p99_ms: float = 50.0, min_ratio: float = 0.999) -> bool:
        return self.latency["p99_ms"] < p99_ms and self.delivered_ratio >= min_ratio

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoadGenerator:
    """Worker processes holding the clients of ``layout``; steps are run from here."""

    def __init__(self, layout: Layout, workers: int = 2) -> None:
        self.layout = layout
        context = multiprocessing.get_context("fork")
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self._next_idle = 1_000_000
        for worker in range(workers):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_worker_main, args=(layout, worker, workers, child), daemon=True
            )
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def _all(
        self,
        command: str,
        args: Sequence[Any],
        timeout: float = 120.0,
        tick: Callable[[], None] | None = None,
    ) -> list[Any]:
        for pipe, arg in zip(self.pipes, args, strict=True):
            pipe.send((command, arg))
        replies: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        while len(replies) < len(self.pipes):
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers did not answer {command!r} in {timeout} s")
            waiting = [p for i, p in enumerate(self.pipes) if i not in replies]
            for ready in multiprocessing.connection.wait(waiting, timeout=0.25):
                if not isinstance(ready, multiprocessing.connection.Connection):
                    continue
                status, reply = ready.recv()
                if status != "ok":
                    raise RuntimeError(f"worker failed {command!r}: {reply}")
                replies[self.pipes.index(ready)] = reply
            if tick is not None:
                tick()
        return [replies[i] for i in range(len(self.pipes))]

    def connect(self) -> dict[str, Any]:
        replies = self._all("connect", [None] * len(self.pipes))
        failures: Counter[str] = Counter()
        for reply in replies:
            failures.update(reply["failures"])
        return {
            "connected": sum(r["connected"] for r in replies),
            "expected": len(self.layout.rooms) * self.layout.clients,
            "failures": dict(failures),
            "seconds": max(r["seconds"] for r in replies),
        }

    def open_idle(self, count: int, base: str) -> dict[str, Any]:
        share = [count // len(self.pipes)] * len(self.pipes)
        share[0] += count - sum(share)
        args = []
        for n in share:
            args.append({"count": n, "base": base, "first_index": self._next_idle})
            self._next_idle += n
        replies = self._all("idle", args, timeout=300)
        failures: Counter[str] = Counter()
        for reply in replies:
            failures.update(reply["failures"])
        return {
            "connected": sum(r["connected"] for r in replies),
            "failures": dict(failures),
            "seconds": max(r["seconds"] for r in replies),
        }

    def close_idle(self) -> None:
        self._all("close_idle", [None] * len(self.pipes))

    def quiet(self, idle_for: float = 0.5, limit: float = 10.0) -> None:
        arg = {"idle_for": idle_for, "limit": limit}
        self._all("quiet", [arg] * len(self.pipes), timeout=limit + 30)

    def step(
        self,
        step: int,
        deliveries_per_s: float,
        duration: float = 5.0,
        drain: float = 1.5,
        slow: Sequence[int] = (),
        tick: Callable[[], None] | None = None,
    ) -> StepResult:
        rate = self.layout.rate_for(deliveries_per_s)
        spec = {
            "step": step,
            "rate": rate,
            "duration": duration,
            "drain": drain,
            "slow": list(slow),
            "start_at": time.time() + 0.3,
        }
        replies = self._all("step", [spec] * len(self.pipes), timeout=duration + 60, tick=tick)
        return combine(replies, deliveries_per_s, rate, duration)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._all("quit", [None] * len(self.pipes), timeout=10)
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


def combine(
    replies: Sequence[dict[str, Any]], target: float, rate: float, duration: float
) -> StepResult:
    """One step's result from every worker's reply."""
    sent_by_room: Counter[str] = Counter()
    receivers: Counter[str] = Counter()
    local = array("d")
    cross = array("d")
    close_codes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for reply in replies:
        sent_by_room.update(reply["sent_by_room"])
        receivers.update(reply["receivers_by_room"])
        local.frombytes(reply["local"])
        cross.frombytes(reply["cross"])
        close_codes.update(reply["close_codes"])
        errors.update(reply["errors"])
    delivery = Delivery(
        expected=expected_deliveries(dict(sent_by_room), dict(receivers)),
        delivered=sum(r["delivered"] for r in replies),
        duplicates=sum(r["duplicates"] for r in replies),
    )
    cpu = [float(r["cpu"]) for r in replies]
    return StepResult(
        target_deliveries_per_s=round(target, 1),
        rate_per_sender=round(rate, 3),
        duration_s=duration,
        sent=sum(sent_by_room.values()),
        expected=delivery.expected,
        delivered=delivery.delivered,
        duplicates=delivery.duplicates,
        lost=delivery.lost,
        delivered_ratio=round(delivery.ratio, 6),
        deliveries_per_s=round(delivery.delivered / duration, 1),
        latency=LatencySummary.of(list(local) + list(cross)).as_dict(),
        latency_local=LatencySummary.of(local).as_dict(),
        latency_cross=LatencySummary.of(cross).as_dict(),
        stale=sum(r["stale"] for r in replies),
        closed=sum(r["closed"] for r in replies),
        close_codes=dict(close_codes),
        errors=dict(errors),
        generator_cpu=cpu,
        generator_saturated=any(c >= SATURATED_CPU for c in cpu),
        max_send_lag_ms=max(float(r["max_send_lag_ms"]) for r in replies),
        slow=[s for r in replies for s in r["slow"]],
    )


# --------------------------------------------------------------------------------------------
# Rooms for the project (REST)
# --------------------------------------------------------------------------------------------


def create_project_rooms(http_base: str, names: Sequence[str]) -> None:
    """Register a user and create ``names`` as unlimited-notes rooms of 100 members.

    Guests may then join them by name; unlimited notes keep the quota from dropping
    benchmark batches.
    """
    base = http_base.rstrip("/")
    username = "bench" + secrets.token_hex(4)
    password = secrets.token_urlsafe(16)
    status, body = http_json(
        "POST",
        f"{base}/api/v1/auth/register",
        {"username": username, "password": password},
        timeout=30,
    )
    if status not in (200, 201) or "access" not in body:
        raise RuntimeError(f"register failed: {status} {body}")
    token = body["access"]
    for name in names:
        status, body = http_json(
            "POST",
            f"{base}/api/v1/rooms/",
            {
                "name": name,
                "settings": {"max_members": 100, "unlimited_notes": True, "persistent": True},
            },
            token=token,
            timeout=30,
        )
        if status != 201:
            raise RuntimeError(f"creating room {name!r} failed: {status} {body}")


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", action="append", required=True, help="ws://host:port")
    parser.add_argument("--http", help="http://host:port to create the project's rooms")
    parser.add_argument("--wire", choices=WIRES, default="proto")
    parser.add_argument("--backend", choices=("picows", "websockets"), default="picows")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--notes", type=int, default=4)
    parser.add_argument("--deliveries", type=float, action="append", help="deliveries/s")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--room-prefix", default="")
    args = parser.parse_args(argv)
    prefix = args.room_prefix or "load-" + secrets.token_hex(3)
    rooms = [f"{prefix}-{i}" for i in range(args.rooms)]
    if args.wire != "simple":
        if not args.http:
            parser.error("--http is needed to create the project's rooms")
        create_project_rooms(args.http, rooms)
    layout = Layout(
        args.wire, args.base, rooms, args.clients, args.senders, args.notes, args.backend
    )
    raise_file_limit()
    generator = LoadGenerator(layout, args.workers)
    try:
        print(json.dumps(generator.connect()), flush=True)
        for index, target in enumerate(args.deliveries or [5000.0]):
            result = generator.step(index, target, args.duration).as_dict()
            print(json.dumps(result), flush=True)
    finally:
        generator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
