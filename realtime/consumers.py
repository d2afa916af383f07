"""The WebSocket endpoint ``/ws/``: authenticate, decode, call one handler, send.

A plain ``AsyncConsumer`` rather than ``AsyncWebsocketConsumer``, for two reasons of speed
(docs/architecture.md, The path of a note): it has no channel-layer channel of its own (the
process's hub has the only one), and its ``dispatch`` skips Channels' per-message
``close_old_connections`` thread hop; handlers that use the database hop to a worker thread
themselves. With no channel layer there is one source of messages, the socket, so it reads
them in its own loop instead of through Channels' ``await_many_dispatch``, whose receiving
task (and the future ``asyncio.wait`` makes for it) every idle socket would carry (README,
Benchmark: RSS per idle socket).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from django.conf import settings
from redis.exceptions import RedisError

from analytics import stats
from foundation.exceptions import DomainError
from observability import metrics
from observability.logs import bind_log_context
from realtime import codec, control, handlers, handshake, lifecycle, quotas
from realtime.backpressure import transport_probe
from realtime.closing import CloseCode
from realtime.codec import EncodedMessage
from realtime.exceptions import ClientGoneError, ProtocolError
from realtime.messages import now_ms, server
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from realtime.quotas import FloodVerdict
from realtime.runtime import Runtime, get_runtime
from realtime.session import PlayerSession

logger = logging.getLogger(__name__)


#: How long a stopping server gives each socket to say goodbye and leave its room.
SHUTDOWN_SECONDS = 2.0

#: Errors of the shared services behind presence and fan-out (Redis) being unreachable.
UNAVAILABLE = (RedisError, OSError)


async def depart(session: PlayerSession) -> None:
    """Forget a socket: hub, room list, room; once, whichever way it ends."""
    if session.departed:
        return
    session.departed = True
    metrics.connection_closed()
    session.stop()
    runtime = session.runtime
    runtime.hub.disconnect(session)
    if session.share is not None:
        runtime.player_shares.release(session.player_key)
        session.share = None
    try:
        await runtime.presence.close_connection(session.session_id, session.connection_keys)
    except UNAVAILABLE as exc:
        # Counted connections of this instance stop counting once its heartbeat expires.
        logger.warning("could not uncount %s: %s", session.describe(), exc)
    if session.watching_room_list:
        await runtime.hub.unsubscribe(lifecycle.ROOM_LIST_TOPIC, session)
    try:
        async with session.lock:
            await lifecycle.leave_current_room(session)
    except UNAVAILABLE as exc:
        # Presence forgets this member by itself: the instance's heartbeat covers it.
        logger.warning("could not remove %s from its room: %s", session.describe(), exc)
    except Exception:
        logger.exception("could not remove %s from its room", session.describe())


async def say_goodbye(runtime: Runtime) -> None:
    """The server is stopping: tell every client to reconnect (1012, "service restart") and
    take it out of its room now, so other instances show it gone at once."""
    sessions = [s for s in runtime.hub.local_sockets() if isinstance(s, PlayerSession)]
    for session in sessions:
        if not session.closed:
            await session.close(CloseCode.RESTARTING)
    await asyncio.gather(*(depart(session) for session in sessions))
    # Their departures must reach the other instances before this one is gone; the
    # statistics are written meanwhile.
    await asyncio.gather(runtime.hub.flush(), stats.recorder.stop())


def configure_runtime(runtime: Runtime) -> None:
    runtime.on_reaped = lifecycle.member_reaped
    runtime.on_forgotten = lifecycle.rejoin_local_members
    runtime.on_tick = lifecycle.on_tick
    runtime.on_shutdown = say_goodbye


class PianoConsumer(AsyncConsumer):
    session: PlayerSession | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # AsyncConsumer.__call__ for a consumer without a channel layer (no per-consumer
        # channel: the hub delivers room traffic), reading in place: one message at a time,
        # each dispatched before the next is read, as there (see the module docstring).
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
                # receive() returns at once while frames are queued; yield after each, as
                # Channels' receiving task did, so that a burst from one client does not hold
                # the loop: the writers it filled send before its next frame is read
                # (docs/architecture.md, Overload).
                await asyncio.sleep(0)
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            # The server is stopping (Daphne cancels every application on SIGTERM): leave the
            # room now, so other instances see it at once, and tell the client to reconnect
            # elsewhere (1012, "service restart") instead of dropping it.
            await self._shut_down()
            raise

    async def _shut_down(self) -> None:
        session = self.session
        if session is None or session.closed:
            return
        try:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await session.close(CloseCode.RESTARTING)
                await depart(session)
                await session.runtime.hub.flush()
        except Exception as exc:
            logger.warning("shutdown of %s incomplete: %s", session.describe(), exc)

    async def dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.receive":
            await self.websocket_receive(message)
        elif kind == "websocket.connect":
            await self.websocket_connect(message)
        elif kind == "websocket.disconnect":
            await self.websocket_disconnect(message)

    # -- connect ----------------------------------------------------------------------------

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        encoding, subprotocol = codec.choose_encoding(self.scope.get("subprotocols", ()))
        try:
            identity = await handshake.authenticate(self.scope)
        except handshake.HandshakeRefusedError as exc:
            logger.info("websocket handshake refused: %s", exc.reason)
            # Before the accept: the client sees an HTTP 403, never this code.
            close = {"type": "websocket.close", "code": int(CloseCode.POLICY_VIOLATION)}
            await self.base_send(close)
            return
        except UNAVAILABLE as exc:  # a ticket lives in Redis
            await self._refuse_unavailable(subprotocol, exc)
            return
        try:
            runtime = await get_runtime(configure_runtime)
        except UNAVAILABLE as exc:
            await self._refuse_unavailable(subprotocol, exc)
            return
        self.session = session = PlayerSession(
            identity,
            encoding,
            runtime,
            self._send_frame,
            self._close,
            control.apply_control,
            transport_probe(self.base_send),
            on_broken=depart,
        )
        try:
            full = await self._count_connection(session)
        except UNAVAILABLE as exc:
            await self._refuse_unavailable(subprotocol, exc)
            return
        await self.base_send({"type": "websocket.accept", "subprotocol": subprotocol})
        if full:
            self.session = None  # never registered: nothing to undo when it goes
            await self._refuse_over_limit(session, full)
            return
        bind_log_context(session_id=session.session_id, user_id=identity.account_id)
        runtime.hub.connect(session)
        session.start()
        metrics.connection_opened()
        stats.recorder.record_session(user_id=identity.account_id)
        session.send(
            server(
                welcome=pb.Welcome(
                    session_id=session.session_id,
                    user=identity.to_proto(),
                    server_time=now_ms(),
                    server_version=settings.VERSION,
                    note_quota=pb.NoteQuota(**quotas.note_quota_fields(session.note_tier)),
                )
            )
        )

    async def _count_connection(self, session: PlayerSession) -> str:
        """Count the socket against its address's and account's limits, on every instance;
        the message to refuse it with, or "" when it may stay."""
        limits = session.connection_limits(
            settings.MAX_GUEST_SOCKETS_PER_ADDRESS, settings.MAX_SOCKETS_PER_ACCOUNT
        )
        full = await session.runtime.presence.open_connection(
            session.session_id, session.runtime.instance_id, limits
        )
        if full is None:
            session.connection_keys = tuple(key for key, _ in limits)
            session.share = session.runtime.player_shares.acquire(session.player_key)
            return ""
        if full.startswith("user:"):
            limit, whose = settings.MAX_SOCKETS_PER_ACCOUNT, "your account"
        else:
            limit, whose = settings.MAX_GUEST_SOCKETS_PER_ADDRESS, "your address"
        return f"Too many connections open for {whose} (at most {limit}); close one first."

    async def _refuse_over_limit(self, session: PlayerSession, message: str) -> None:
        metrics.rate_limited("CONNECTIONS")
        logger.info("socket refused: %s", message)
        refusal = EncodedMessage(codec.error_message("RATE_LIMITED", message))
        await self._send_frame(codec.join_encoded(session.encoding, [refusal]))
        await self._close(CloseCode.FLOOD)

    # -- frames -------------------------------------------------------------------------------

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        session = self.session
        if session is None or session.closed:
            return
        text: str | None = message.get("text")
        data: bytes | None = message.get("bytes")
        size = len(data) if data is not None else len(text or "")
        if size > session.runtime.frame_limit:
            await session.close(CloseCode.TOO_LARGE)
            return
        now = time.monotonic()
        session.last_seen = now
        if not await self._admit_frame(session, size, now):
            return
        try:
            client_message = codec.decode_client(session.encoding, text, data)
        except ProtocolError as exc:
            metrics.protocol_error(exc.code)
            if session.bad_frames.record(now):
                await session.close(CloseCode.BAD_FRAMES)
                return
            session.send(codec.error_message(exc.code, exc.message))
            return
        await self._carry_out(session, client_message)

    async def _admit_frame(self, session: PlayerSession, size: int, now: float) -> bool:
        """Whether the socket's and the player's frame budgets let this frame in; a flood is
        dropped (one RATE_LIMITED a run) and a sustained one closed (4429)."""
        share = session.share
        verdict = session.flood.check(
            now, quotas.frame_cost(size), share.frames(now) if share is not None else None
        )
        if verdict is FloodVerdict.CLOSE:
            metrics.rate_limited("FLOOD")
            await session.close(CloseCode.FLOOD)
            return False
        if verdict is FloodVerdict.DROP:
            metrics.rate_limited("FLOOD")
            # One RATE_LIMITED per run of dropped frames: answering each would echo the flood.
            if not session.flood_noticed:
                session.flood_noticed = True
                session.send(codec.error_message("RATE_LIMITED", "Too many messages; slow down."))
            return False
        session.flood_noticed = False
        return True

    async def _carry_out(self, session: PlayerSession, client_message: pb.ClientMessage) -> None:
        """Run the message's handler; every failure becomes an error to this socket."""
        request = client_message.WhichOneof("kind") or ""
        metrics.message_received(request)
        try:
            await handlers.handle(session, client_message)
        except handlers.SustainedFloodError:
            metrics.rate_limited("FLOOD")
            await session.close(CloseCode.FLOOD)
        except DomainError as exc:
            code = handlers.error_code_of(exc)
            metrics.protocol_error(code)
            session.send(codec.error_message(code, exc.message, request, exc.fields))
        except UNAVAILABLE as exc:
            logger.warning("real-time %s: presence unavailable (%s)", request, exc)
            notice = "The server is briefly unavailable; try again in a moment."
            session.send(codec.error_message("INTERNAL", notice, request))
        except Exception:
            logger.exception("real-time %s failed for %s", request, session.describe())
            session.send(codec.error_message("INTERNAL", "Something went wrong.", request))

    # -- leaving ------------------------------------------------------------------------------

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if self.session is not None:
            await depart(self.session)
        raise StopConsumer()

    # -- socket I/O used by the session ------------------------------------------------------

    async def _send_frame(self, frame: bytes | str) -> None:
        message = (
            {"type": "websocket.send", "bytes": frame}
            if isinstance(frame, bytes)
            else {"type": "websocket.send", "text": frame}
        )
        try:
            await self.base_send(message)
        # The client closed meanwhile: autobahn's Disconnected (Daphne), uvicorn's
        # ClientDisconnected (an OSError).
        except (Disconnected, OSError) as exc:
            raise ClientGoneError(str(exc) or type(exc).__name__) from exc

    async def _refuse_unavailable(self, subprotocol: str | None, exc: BaseException) -> None:
        """Redis is down: a clean "try again later" (1013), not a 500 with a traceback."""
        logger.warning("real-time unavailable, socket refused: %s", exc)
        await self.base_send({"type": "websocket.accept", "subprotocol": subprotocol})
        await self._close(CloseCode.TRY_LATER)

    async def _close(self, code: int) -> None:
        # A plain int: autobahn refuses any other type, CloseCode included.
        code = int(code)
        try:
            await self.base_send({"type": "websocket.close", "code": code})
        except Exception:
            if not 1000 < code < 3000:
                raise
            # Daphne (autobahn) lets an application close only with 1000 or 3000-4999; the
            # standard codes (1008, 1009, 1012, 1013) then go out as 4008, 4009, 4012, 4013.
            await self.base_send({"type": "websocket.close", "code": 4000 + code % 1000})
