"""The hub's way across Redis (docs/architecture.md, Crossing Redis): what a process publishes
is queued and leaves in pipelined batches, never awaited by the publisher, arrives in order
on the other processes through channels-redis's own receiving, survives Redis going away,
and is bounded when Redis cannot keep up.

These use the real Redis (``REDIS_URL``, else 127.0.0.1:6379) with a random prefix, and a
private redis-server for the one that stops it.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from harness.processes import REPO, RedisServer, free_port, project_env
from observability import metrics
from realtime import hub as hub_module
from realtime.codec import EncodedMessage
from realtime.events import IdentityChanged
from realtime.hub import EVERYWHERE, Hub, LayerSender, RedisPipelineSender, room_topic
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.realtime.conftest import REDIS_URL


class Socket:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.user_id = session_id
        self.messages: list[EncodedMessage] = []
        self.events: list[tuple[str, Any]] = []
        self.arrived = asyncio.Event()
        self.expected = 0

    def deliver(self, message: EncodedMessage) -> None:
        self.messages.append(message)
        if len(self.messages) >= self.expected:
            self.arrived.set()

    def control(self, topic: str, event: Any) -> None:
        self.events.append((topic, event))


def chat(text: str) -> EncodedMessage:
    return EncodedMessage(pb.ServerMessage(chat=pb.ChatMessage(text=text)))


def texts(socket: Socket) -> list[str]:
    return [m.message.chat.text for m in socket.messages]


def redis_config(url: str) -> dict[str, Any]:
    """The layer's CONFIG in the shape pianorhythm.settings gives it: one host as a dict of
    the address and connection options."""
    host = {"address": url, "socket_timeout": 30.0, "max_connections": 100}
    return {"hosts": [host], "prefix": f"test-{secrets.token_hex(4)}"}


HubFactory = Callable[[str], Hub]


@pytest.fixture
async def make_hub() -> AsyncIterator[Callable[..., Hub]]:
    """Hubs on their own channel layers (as in separate processes), stopped afterwards."""
    started: list[Hub] = []

    async def make(config: dict[str, Any]) -> Hub:
        layer = RedisPubSubChannelLayer(**config)
        hub = Hub(layer, secrets.token_hex(8), config)
        await hub.start()
        started.append(hub)
        return hub

    yield make  # type: ignore[misc]
    for hub in started:
        await hub.stop()
        await hub.layer.flush()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "hosts",
    [
        [{"address": REDIS_URL, "socket_timeout": 30.0}],  # as pianorhythm.settings gives it
        [REDIS_URL],
        [("127.0.0.1", 6379)],
    ],
)
async def test_a_redis_layer_on_one_host_gets_the_pipelined_sender(hosts: list[Any]) -> None:
    config = {"hosts": hosts, "prefix": "x"}
    sender = hub_module.sender_for(RedisPubSubChannelLayer(**config), config)
    assert isinstance(sender, RedisPipelineSender)
    await sender.close()


def test_the_settings_give_the_hub_the_pipelined_sender(tmp_path: Path) -> None:
    # The project's own settings with REDIS_URL set, in a process of their own.
    script = (
        "import django; django.setup()\n"
        "from channels.layers import get_channel_layer\n"
        "from realtime.hub import sender_for\n"
        "from realtime.runtime import _layer_config\n"
        "print(type(sender_for(get_channel_layer(), _layer_config())).__name__)\n"
    )
    env = project_env(tmp_path, REDIS_URL=REDIS_URL)
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "RedisPipelineSender"


async def test_several_redis_hosts_or_another_layer_keep_the_layers_own_sending() -> None:
    # Several Redis hosts are sharded by the layer: its own group_send picks the shard.
    sharded = {"hosts": [REDIS_URL, REDIS_URL], "prefix": "x"}
    layer = RedisPubSubChannelLayer(**sharded)
    assert isinstance(hub_module.sender_for(layer, sharded), LayerSender)
    assert isinstance(hub_module.sender_for(InMemoryChannelLayer(), {}), LayerSender)


async def test_an_instance_from_before_batches_is_still_heard() -> None:
    hub = Hub(None, "new")
    socket = Socket("s")
    hub.connect(socket)
    await hub.subscribe(room_topic("r"), socket)
    message = chat("from an older instance")
    hub._handle(
        {
            "type": "hub.message",
            "origin": "old",
            "topic": room_topic("r"),
            "frame": message.proto_frame,
            "kind": "chat",
            "exclude": "",
        }
    )
    event = IdentityChanged(user_id="7")
    hub._handle(
        {"type": "hub.control", "origin": "old", "topic": EVERYWHERE, "event": event.to_wire()}
    )
    assert texts(socket) == ["from an older instance"]
    assert socket.events == [(EVERYWHERE, event)]


async def test_a_burst_arrives_whole_and_in_order_on_another_process(
    make_hub: Callable[..., Any],
) -> None:
    config = redis_config(REDIS_URL)
    sender, receiver = await make_hub(config), await make_hub(config)
    listeners = {name: Socket(name) for name in ("a", "b", "c")}
    for name, socket in listeners.items():
        await receiver.subscribe(room_topic(name), socket)
        socket.expected = 3000
    receiver.connect(listeners["a"])
    await asyncio.sleep(0.2)  # the subscriptions reach Redis

    # 9,000 messages and control events published at once, three rooms interleaved: far more
    # than one round trip carries, and no publish waits for Redis.
    for n in range(3000):
        for name in ("a", "b", "c"):
            await sender.publish(room_topic(name), chat(f"{name}{n}"))
        if n % 1000 == 0:
            await sender.publish_control(EVERYWHERE, IdentityChanged(user_id=str(n)))
    assert len(sender._outbox) > hub_module.SEND_BATCH  # nothing was awaited on the way

    async with asyncio.timeout(10):
        for socket in listeners.values():
            await socket.arrived.wait()
    for name, socket in listeners.items():
        assert texts(socket) == [f"{name}{n}" for n in range(3000)]
    identities = [(EVERYWHERE, IdentityChanged(user_id=str(n))) for n in (0, 1000, 2000)]
    assert listeners["a"].events == identities


async def test_a_sender_excluded_from_its_own_notes_on_every_process(
    make_hub: Callable[..., Any],
) -> None:
    config = redis_config(REDIS_URL)
    one, other = await make_hub(config), await make_hub(config)
    me, here, there = Socket("me"), Socket("here"), Socket("there")
    await one.subscribe(room_topic("r"), me)
    await one.subscribe(room_topic("r"), here)
    await other.subscribe(room_topic("r"), there)
    there.expected = 1
    await asyncio.sleep(0.2)
    await one.publish(room_topic("r"), chat("la"), exclude_session="me")
    async with asyncio.timeout(5):
        await there.arrived.wait()
    await asyncio.sleep(0.2)  # anything that would come back to ``one`` has
    assert (texts(me), texts(here), texts(there)) == ([], ["la"], ["la"])


async def test_a_stopping_hub_sends_what_it_queued_first(make_hub: Callable[..., Any]) -> None:
    config = redis_config(REDIS_URL)
    leaving, staying = await make_hub(config), await make_hub(config)
    socket = Socket("s")
    socket.expected = 500
    await staying.subscribe(room_topic("r"), socket)
    await asyncio.sleep(0.2)
    for n in range(500):
        await leaving.publish(room_topic("r"), chat(str(n)))
    await leaving.stop()
    async with asyncio.timeout(5):
        await socket.arrived.wait()
    assert texts(socket) == [str(n) for n in range(500)]


async def test_messages_cross_again_once_a_stopped_redis_is_back(
    tmp_path: Path, make_hub: Callable[..., Any]
) -> None:
    redis = RedisServer(free_port(), tmp_path)
    redis.start()
    try:
        config = redis_config(redis.url)
        sender, receiver = await make_hub(config), await make_hub(config)
        socket = Socket("s")
        socket.expected = 1
        await receiver.subscribe(room_topic("r"), socket)
        await asyncio.sleep(0.2)
        await sender.publish(room_topic("r"), chat("before"))
        async with asyncio.timeout(5):
            await socket.arrived.wait()

        dropped = metrics.HUB_DROPPED._value.get()
        redis.stop()
        await sender.publish(room_topic("r"), chat("while down"))
        async with asyncio.timeout(10):
            while sender.healthy:  # noqa: ASYNC110 (the hub has no event for it)
                await asyncio.sleep(0.05)
        assert metrics.HUB_DROPPED._value.get() == dropped + 1  # counted, not kept forever

        redis.start()
        socket.arrived.clear()
        socket.expected = 2
        async with asyncio.timeout(15):
            # The receiving side subscribes again within RESUBSCRIBE_SECONDS; until then what
            # is sent is not heard, so keep sending until something is.
            while not socket.arrived.is_set():
                await sender.publish(room_topic("r"), chat("after"))
                await asyncio.sleep(0.5)
        assert sender.healthy
        assert texts(socket)[0] == "before"
        assert set(texts(socket)[1:]) == {"after"}
    finally:
        redis.stop()


class StuckSender:
    """A channel layer that takes one batch and never answers (Redis hung)."""

    def __init__(self) -> None:
        self.batches: list[Sequence[tuple[str, dict[str, Any]]]] = []

    async def send(self, envelopes: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self.batches.append(envelopes)
        await asyncio.Event().wait()

    async def close(self) -> None:
        return None


async def test_a_hung_layer_costs_a_bounded_queue_dropping_the_oldest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "OUTBOX_LIMIT", 100)
    config = redis_config(REDIS_URL)
    hub = Hub(RedisPubSubChannelLayer(**config), "stuck", config)
    stuck = StuckSender()
    hub._sender = stuck
    await hub.start()
    try:
        await hub.publish(room_topic("r"), chat("first"))
        await asyncio.sleep(0.05)  # the first batch is on its way, and stays there
        dropped = metrics.HUB_DROPPED._value.get()
        for n in range(150):
            await hub.publish(room_topic("r"), chat(str(n)))
        assert metrics.HUB_DROPPED._value.get() == dropped + 50
        queued = [item["frame"] for _topic, item in hub._outbox]
        assert queued == [chat(str(n)).proto_frame for n in range(50, 150)]
        assert len(stuck.batches) == 1
    finally:
        hub._tasks[-1].cancel()  # the stuck send: stop() would wait FLUSH_SECONDS for it
        await hub.stop()
        await hub.layer.flush()  # type: ignore[union-attr]
