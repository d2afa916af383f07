"""What one server process runs for the real-time layer: its hub, its presence store, and
the background loops that keep presence honest across processes.

Daphne has no ASGI lifespan, so the runtime starts with the first socket of the process (and
of each event loop, in tests) and lives as long as that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from realtime import quotas
from realtime.buckets import Allowances, allowances_from_settings
from realtime.hub import Hub
from realtime.presence import MemberRecord, PresenceStore, presence_from_settings

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 3.0
#: How long a stopping server spends saying goodbye to its sockets before it stops anyway.
SHUTDOWN_SECONDS = 3.0
#: Interface servers whose SIGTERM handler the runtime goes before (by the module each runs
#: in); elsewhere (tests, a management command) SIGTERM is left alone.
SIGNAL_HANDING_SERVERS = ("twisted.internet.reactor", "uvicorn.server")
REAP_SECONDS = 5.0


@dataclass
class Runtime:
    instance_id: str
    hub: Hub
    presence: PresenceStore
    #: Players' note and chat quotas, shared by all of a player's sockets on every instance.
    allowances: Allowances
    #: Called for each member of a dead instance that this process reaped.
    on_reaped: Callable[[str, MemberRecord], Awaitable[None]] | None = None
    #: Called after a heartbeat that found this instance forgotten (Redis lost its data).
    on_forgotten: Callable[[], Awaitable[None]] | None = None
    #: Called after every heartbeat (idle sockets are closed from here).
    on_tick: Callable[[Runtime], Awaitable[None]] | None = None
    #: Called when the server is told to stop (SIGTERM), before it drops its connections.
    on_shutdown: Callable[[Runtime], Awaitable[None]] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: When (monotonic) the next sweep for abandoned rooms is due.
    next_room_sweep: float = 0.0
    #: The largest frame a socket may be sent (the interface server's message size limit).
    frame_limit: int = 64 * 1024
    #: What each player's sockets in this process share (frame budget, cursor gate).
    player_shares: quotas.PlayerShares = field(default_factory=quotas.PlayerShares)

    async def start(self) -> None:
        await self.presence.heartbeat(self.instance_id)
        await self.hub.start()
        self._install_sigterm_handler()
        self.tasks = [
            asyncio.create_task(self._heartbeat_loop(), name="presence-heartbeat"),
            asyncio.create_task(self._reap_loop(), name="presence-reaper"),
        ]

    def _install_sigterm_handler(self) -> None:
        """Under Daphne, SIGTERM stops Twisted's reactor, which drops every connection before
        the application hears of it; uvicorn closes every socket itself (1012) and never tells
        the application it is stopping. Run ``on_shutdown`` first (the same goodbye under
        both: 1012, rooms left at once, statistics written), then hand the signal on."""
        if (
            self.on_shutdown is None
            or not any(server in sys.modules for server in SIGNAL_HANDING_SERVERS)
            or threading.current_thread() is not threading.main_thread()
        ):
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return
        loop = asyncio.get_running_loop()
        on_shutdown = self.on_shutdown

        async def shut_down(signum: int, frame: Any) -> None:
            try:
                async with asyncio.timeout(SHUTDOWN_SECONDS):
                    await on_shutdown(self)
            except Exception:
                logger.warning("graceful shutdown incomplete", exc_info=True)
            finally:
                previous(signum, frame)

        def on_sigterm(signum: int, frame: Any) -> None:
            # A second SIGTERM stops at once.
            signal.signal(signal.SIGTERM, previous)
            loop.call_soon_threadsafe(lambda: loop.create_task(shut_down(signum, frame)))

        signal.signal(signal.SIGTERM, on_sigterm)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hub.stop()
        await self.presence.close()
        await self.allowances.close()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                was_alive = await self.presence.heartbeat(self.instance_id)
                if not was_alive and self.on_forgotten is not None:
                    await self.on_forgotten()
                if self.on_tick is not None:
                    await self.on_tick(self)
            except Exception:
                logger.warning("presence heartbeat failed; retrying", exc_info=True)

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(REAP_SECONDS)
            try:
                reaped = await self.presence.reap_dead_instances()
            except Exception:
                logger.warning("presence reaping failed; retrying", exc_info=True)
                continue
            for room_id, record in reaped:
                if self.on_reaped is None:
                    continue
                try:
                    await self.on_reaped(room_id, record)
                except Exception:
                    logger.exception("could not announce a reaped member")


_runtimes: dict[int, Runtime] = {}
_starting: dict[int, asyncio.Lock] = {}


def current_runtime() -> Runtime | None:
    """This event loop's runtime, if a socket has started one."""
    return _runtimes.get(id(asyncio.get_running_loop()))


async def get_runtime(
    configure: Callable[[Runtime], None] | None = None,
) -> Runtime:
    """This event loop's runtime, started on first use. ``configure`` sets the callbacks of a
    runtime about to start."""
    key = id(asyncio.get_running_loop())
    runtime = _runtimes.get(key)
    if runtime is not None:
        return runtime
    lock = _starting.setdefault(key, asyncio.Lock())
    async with lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            instance_id = uuid.uuid4().hex
            layer = get_channel_layer()
            runtime = Runtime(
                instance_id=instance_id,
                hub=Hub(layer, instance_id, _layer_config()),
                presence=presence_from_settings(),
                allowances=allowances_from_settings(),
                frame_limit=settings.WEBSOCKET_MAX_MESSAGE_BYTES,
            )
            if configure is not None:
                configure(runtime)
            await runtime.start()
            _runtimes[key] = runtime
            logger.info(
                "real-time runtime %s started (distributed: %s, redis: %s)",
                instance_id[:8],
                runtime.hub.distributed,
                bool(settings.REDIS_URL),
            )
    return runtime


def _layer_config() -> dict[str, Any]:
    layers: dict[str, dict[str, Any]] = getattr(settings, "CHANNEL_LAYERS", {})
    config: dict[str, Any] = layers.get("default", {}).get("CONFIG", {})
    return config


async def stop_runtime() -> None:
    """Stop this loop's runtime (tests; a process exiting needs nothing)."""
    runtime = _runtimes.pop(id(asyncio.get_running_loop()), None)
    if runtime is not None:
        await runtime.stop()
