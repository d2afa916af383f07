"""The process-wide fan-out hub (docs/architecture.md, The path of a note).

Each server process runs one hub. Sockets subscribe to topics (a room, the lobby list); a
publish delivers the already-encoded message straight to this process's subscribers and, when
other processes may exist, sends it once through the channel layer to the topic's group. Every
process with subscribers to the topic has added its one hub channel to that group, so a
message crosses Redis once per process, not once per socket, and is encoded once per
broadcast, not once per recipient.

Control events (kick, ban, room settings changed, ownership passed on) travel the same way and
reach each subscriber's ``control`` method; events about a user wherever they are (a site ban)
go to every hub.

With the in-memory channel layer there is only this process, so nothing goes through the layer.

What leaves for the other processes is queued, never awaited by the publisher: one task
takes everything queued and sends it in one go, a topic's messages in one envelope, all the
envelopes in one pipelined round trip to Redis. A note's sender never waits on Redis, and
the busier the process, the more each round trip carries (docs/architecture.md, Crossing
Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import create_pool, decode_hosts
from redis import asyncio as aioredis

from observability import metrics
from realtime import events
from realtime.codec import EncodedMessage
from realtime.events import ControlEvent

logger = logging.getLogger(__name__)

#: The topic every hub subscribes to, for events about a user on any instance.
EVERYWHERE = "everywhere"

#: Group memberships live in Redis, which may restart and forget them; re-adding every few
#: seconds means a process hears its rooms again within that time without noticing the restart.
RESUBSCRIBE_SECONDS = 3.0

#: Messages waiting to leave for the other processes. Past this (Redis unreachable or slower
#: than the traffic), the oldest are dropped and counted rather than kept without bound.
OUTBOX_LIMIT = 50_000
#: The most messages one round trip to the channel layer carries.
SEND_BATCH = 2_000
#: How long a stopping process waits for its queued messages to leave.
FLUSH_SECONDS = 2.0


def room_topic(room_id: str) -> str:
    return f"room.{room_id}"


class Subscriber(Protocol):
    """A local socket as the hub sees it. Both methods must return at once (no I/O)."""

    @property
    def session_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    def deliver(self, message: EncodedMessage) -> None: ...

    def control(self, topic: str, event: ControlEvent) -> None: ...


class Hub:
    def __init__(
        self,
        layer: BaseChannelLayer | None,
        instance_id: str,
        layer_config: Mapping[str, Any] | None = None,
    ) -> None:
        """``layer_config`` is the channel layer's CONFIG from the settings: with it, a Redis
        layer's messages leave through the hub's own pipelined connection."""
        self.instance_id = instance_id
        self.layer = layer
        self.distributed = layer is not None and not isinstance(layer, InMemoryChannelLayer)
        self.channel_name = ""
        self._topics: dict[str, dict[str, Subscriber]] = {}
        self._sockets: dict[str, Subscriber] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._layer_healthy = True
        self._sender: Sender | None = (
            sender_for(layer, layer_config or {}) if self.distributed and layer else None
        )
        #: (topic, item) waiting to leave, oldest first; an item is an envelope's entry.
        self._outbox: deque[tuple[str, dict[str, Any]]] = deque()
        self._queued = asyncio.Event()
        #: Set while nothing is queued or on its way.
        self._drained = asyncio.Event()
        self._drained.set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.distributed or self._tasks:
            return
        self.channel_name = await self._layer().new_channel("hub.")
        await self._group_add(EVERYWHERE)
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="hub-receive"),
            asyncio.create_task(self._resubscribe_loop(), name="hub-resubscribe"),
            asyncio.create_task(self._send_loop(), name="hub-send"),
        ]

    async def flush(self, timeout: float = FLUSH_SECONDS) -> None:
        """Wait until what is queued for the other processes has left (a stopping process:
        its players' departures must reach the others)."""
        if not self._tasks:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._drained.wait()
        except TimeoutError:
            logger.warning(
                "hub: %d messages for other processes not sent before stopping", len(self._outbox)
            )

    async def stop(self) -> None:
        await self.flush()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._sender is not None:
            await self._sender.close()

    # -- local registry -----------------------------------------------------------------------

    def connect(self, socket: Subscriber) -> None:
        """Register a socket for events addressed to its user anywhere."""
        self._sockets[socket.session_id] = socket

    def disconnect(self, socket: Subscriber) -> None:
        self._sockets.pop(socket.session_id, None)

    async def subscribe(self, topic: str, socket: Subscriber) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is None:
            subscribers = self._topics[topic] = {}
            if self.distributed:
                await self._group_add(topic)
        subscribers[socket.session_id] = socket

    async def unsubscribe(self, topic: str, socket: Subscriber) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is None or subscribers.pop(socket.session_id, None) is None:
            return
        if not subscribers:
            del self._topics[topic]
            if self.distributed:
                await self._group_discard(topic)

    def subscribers(self, topic: str) -> Iterable[Subscriber]:
        return tuple(self._topics.get(topic, {}).values())

    def local_sockets(self) -> Iterable[Subscriber]:
        return tuple(self._sockets.values())

    def room_load(self) -> tuple[int, int]:
        """(rooms, room members) with subscribers on this process, for the metrics."""
        rooms = [subs for topic, subs in self._topics.items() if topic.startswith("room.")]
        return len(rooms), sum(len(subs) for subs in rooms)

    # -- publishing -----------------------------------------------------------------------------

    async def publish(
        self, topic: str, message: EncodedMessage, *, exclude_session: str | None = None
    ) -> None:
        """Send ``message`` to every subscriber of ``topic`` on every process, except the
        socket ``exclude_session`` (a sender never hears its own notes)."""
        self._deliver(topic, message, exclude_session)
        if self.distributed:
            self._enqueue(topic, _message_item(message, exclude_session))

    async def publish_control(self, topic: str, event: ControlEvent) -> None:
        """Hand ``event`` to the ``control`` method of every subscriber of ``topic``, on every
        process. For ``EVERYWHERE``, every socket connected to any hub gets it."""
        self._control(topic, event)
        if self.distributed:
            self._enqueue(topic, _control_item(event))

    def _deliver(self, topic: str, message: EncodedMessage, exclude_session: str | None) -> None:
        subscribers = self._topics.get(topic)
        if not subscribers:
            return
        sent = 0
        for session_id, socket in tuple(subscribers.items()):
            if session_id != exclude_session:
                socket.deliver(message)
                sent += 1
        metrics.message_sent(message.kind, sent)

    def _control(self, topic: str, event: ControlEvent) -> None:
        targets = self._sockets if topic == EVERYWHERE else self._topics.get(topic, {})
        for socket in tuple(targets.values()):
            socket.control(topic, event)

    # -- channel layer --------------------------------------------------------------------------

    def _layer(self) -> BaseChannelLayer:
        if self.layer is None:
            raise RuntimeError("this hub has no channel layer")
        return self.layer

    async def _receive_loop(self) -> None:
        layer = self._layer()
        backoff = 0.1
        while True:
            try:
                message = await layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the layer's errors are its backend's (Redis, network)
                self._layer_down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            self._layer_up()
            if message.get("origin") == self.instance_id:
                continue
            try:
                self._handle(message)
            except Exception:
                logger.exception("hub: could not handle a %s message", message.get("type"))

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        topic = str(message.get("topic", ""))
        if kind == "hub.batch":
            items = message.get("items", ())
        elif kind in ("hub.message", "hub.control"):
            # One message or event as instances before hub.batch sent them (a rolling
            # deploy has both kinds of instance for a while).
            items = (message,)
        else:
            logger.warning("hub: ignored a message of unknown type %r", kind)
            return
        for item in items:
            try:
                self._handle_item(topic, item)
            except Exception:
                logger.exception("hub: could not handle an item for %s", topic)

    def _handle_item(self, topic: str, item: dict[str, Any]) -> None:
        if "frame" in item:
            encoded = EncodedMessage.from_proto_frame(item["frame"], item.get("kind", ""))
            self._deliver(topic, encoded, item.get("exclude") or None)
        else:
            event = events.from_wire(item["event"])
            if event is not None:
                self._control(topic, event)

    async def _resubscribe_loop(self) -> None:
        while True:
            await asyncio.sleep(RESUBSCRIBE_SECONDS)
            for topic in (EVERYWHERE, *self._topics):
                await self._group_add(topic)

    async def _group_add(self, topic: str) -> None:
        try:
            await self._layer().group_add(topic, self.channel_name)
            self._layer_up()
        except Exception as exc:
            # The resubscribe loop adds it again once the layer is back.
            self._layer_down(exc)

    async def _group_discard(self, topic: str) -> None:
        try:
            await self._layer().group_discard(topic, self.channel_name)
        except Exception as exc:
            # A stale membership only costs this process messages it then ignores.
            self._layer_down(exc)

    # -- sending to the other processes -------------------------------------------------------

    def _enqueue(self, topic: str, item: dict[str, Any]) -> None:
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            metrics.hub_dropped()
        self._outbox.append((topic, item))
        self._drained.clear()
        self._queued.set()

    async def _send_loop(self) -> None:
        backoff = 0.1
        while True:
            if not self._outbox:
                self._drained.set()
                self._queued.clear()
                await self._queued.wait()
            envelopes = self._take()
            try:
                await self._sending().send(envelopes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the layer's errors are its backend's (Redis, network)
                # Local subscribers already have these; other processes miss them while Redis
                # is down, and later ones wait a moment rather than fail at once too.
                self._layer_down(exc)
                metrics.hub_dropped(sum(len(e["items"]) for _topic, e in envelopes))
                if not self._outbox:
                    self._drained.set()  # a stopping process need not wait out the backoff
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            self._layer_up()

    def _take(self) -> list[tuple[str, dict[str, Any]]]:
        """Up to SEND_BATCH queued items, oldest first, as one envelope per topic (a topic's
        items keep their order)."""
        by_topic: dict[str, list[dict[str, Any]]] = {}
        outbox = self._outbox
        for _ in range(min(len(outbox), SEND_BATCH)):
            topic, item = outbox.popleft()
            items = by_topic.get(topic)
            if items is None:
                items = by_topic[topic] = []
            items.append(item)
        return [
            (topic, _envelope(self.instance_id, topic, items)) for topic, items in by_topic.items()
        ]

    def _sending(self) -> Sender:
        if self._sender is None:
            raise RuntimeError("this hub has no channel layer")
        return self._sender

    def _layer_down(self, exc: Exception) -> None:
        if self._layer_healthy:
            logger.warning("hub: channel layer unreachable (%s); retrying", type(exc).__name__)
        self._layer_healthy = False

    def _layer_up(self) -> None:
        if not self._layer_healthy:
            logger.info("hub: channel layer reachable again")
        self._layer_healthy = True

    @property
    def healthy(self) -> bool:
        return self._layer_healthy


# -- the wire format between processes ----------------------------------------------------------


def _message_item(message: EncodedMessage, exclude_session: str | None) -> dict[str, Any]:
    return {"frame": message.proto_frame, "kind": message.kind, "exclude": exclude_session or ""}


def _control_item(event: ControlEvent) -> dict[str, Any]:
    return {"event": event.to_wire()}


def _envelope(origin: str, topic: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """What crosses the channel layer: a topic's messages and control events, in order."""
    return {"type": "hub.batch", "origin": origin, "topic": topic, "items": items}


async def publish_without_hub(topic: str, item: EncodedMessage | ControlEvent) -> None:
    """Send a message or a control event to ``topic``'s subscribers on the other processes,
    from a process that runs no hub (a management command, a worker with no sockets). With
    the in-memory channel layer there is no other process to tell."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return
    entry = _message_item(item, None) if isinstance(item, EncodedMessage) else _control_item(item)
    await layer.group_send(topic, _envelope("", topic, [entry]))


# -- how envelopes leave ------------------------------------------------------------------------


class Sender(Protocol):
    async def send(self, envelopes: Sequence[tuple[str, dict[str, Any]]]) -> None: ...

    async def close(self) -> None: ...


class LayerSender:
    """Any channel layer: one ``group_send`` per envelope, in order."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer

    async def send(self, envelopes: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for topic, envelope in envelopes:
            await self.layer.group_send(topic, envelope)

    async def close(self) -> None:
        return None


class RedisPipelineSender:
    """channels-redis's pub/sub layer, with every envelope of a send in one pipelined round
    trip on a connection of the hub's own. The layer's ``group_send`` holds a lock for each
    PUBLISH's round trip, so a process had one message on its way at a time and everything
    else queued behind it. The envelope is published to the Redis channel the layer's group
    listens on, serialized as the layer does (tests/realtime/test_hub_redis.py checks both
    against the layer's own receiving)."""

    def __init__(
        self, layer: RedisPubSubChannelLayer, host: Mapping[str, Any], prefix: str
    ) -> None:
        self.layer = layer
        self.prefix = prefix
        # Connected as the layer connects (a URL, host and port, or Sentinel, with the
        # settings' options), publishing only.
        self.redis = aioredis.Redis(connection_pool=create_pool(dict(host)))

    def channel(self, topic: str) -> str:
        return f"{self.prefix}__group__{topic}"

    async def send(self, envelopes: Sequence[tuple[str, dict[str, Any]]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic, envelope in envelopes:
                pipe.publish(self.channel(topic), self.layer.serialize(envelope))
            await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()


def sender_for(layer: BaseChannelLayer, config: Mapping[str, Any]) -> Sender:
    """The pipelined sender for a Redis pub/sub layer on one Redis (however its host is
    given); the layer's own ``group_send`` for any other layer, or several Redis hosts."""
    if not isinstance(layer, RedisPubSubChannelLayer):
        return LayerSender(layer)
    hosts: list[dict[str, Any]] = decode_hosts(config.get("hosts"))
    if len(hosts) != 1:
        return LayerSender(layer)
    return RedisPipelineSender(layer, hosts[0], str(config.get("prefix", "asgi")))
