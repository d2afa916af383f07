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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

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
    def __init__(self, layer: BaseChannelLayer | None, instance_id: str) -> None:
        self.instance_id = instance_id
        self.layer = layer
        self.distributed = layer is not None and not isinstance(layer, InMemoryChannelLayer)
        self.channel_name = ""
        self._topics: dict[str, dict[str, Subscriber]] = {}
        self._sockets: dict[str, Subscriber] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._layer_healthy = True

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.distributed or self._tasks:
            return
        self.channel_name = await self._layer().new_channel("hub.")
        await self._group_add(EVERYWHERE)
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="hub-receive"),
            asyncio.create_task(self._resubscribe_loop(), name="hub-resubscribe"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

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
            await self._group_send(
                topic, _message_envelope(self.instance_id, topic, message, exclude_session)
            )

    async def publish_control(self, topic: str, event: ControlEvent) -> None:
        """Hand ``event`` to the ``control`` method of every subscriber of ``topic``, on every
        process. For ``EVERYWHERE``, every socket connected to any hub gets it."""
        self._control(topic, event)
        if self.distributed:
            await self._group_send(topic, _control_envelope(self.instance_id, topic, event))

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
        if kind == "hub.message":
            exclude = message.get("exclude") or None
            encoded = EncodedMessage.from_proto_frame(message["frame"], message.get("kind", ""))
            self._deliver(topic, encoded, exclude)
        elif kind == "hub.control":
            event = events.from_wire(message["event"])
            if event is not None:
                self._control(topic, event)
        else:
            logger.warning("hub: ignored a message of unknown type %r", kind)

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

    async def _group_send(self, topic: str, message: dict[str, Any]) -> None:
        try:
            await self._layer().group_send(topic, message)
            self._layer_up()
        except Exception as exc:
            # Local subscribers already have it; other processes miss it while Redis is down.
            self._layer_down(exc)

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


def _message_envelope(
    origin: str, topic: str, message: EncodedMessage, exclude_session: str | None
) -> dict[str, Any]:
    return {
        "type": "hub.message",
        "origin": origin,
        "topic": topic,
        "frame": message.proto_frame,
        "kind": message.kind,
        "exclude": exclude_session or "",
    }


def _control_envelope(origin: str, topic: str, event: ControlEvent) -> dict[str, Any]:
    return {"type": "hub.control", "origin": origin, "topic": topic, "event": event.to_wire()}


async def publish_without_hub(topic: str, item: EncodedMessage | ControlEvent) -> None:
    """Send a message or a control event to ``topic``'s subscribers on the other processes,
    from a process that runs no hub (a management command, a worker with no sockets). With
    the in-memory channel layer there is no other process to tell."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return
    if isinstance(item, EncodedMessage):
        envelope = _message_envelope("", topic, item, None)
    else:
        envelope = _control_envelope("", topic, item)
    await layer.group_send(topic, envelope)
