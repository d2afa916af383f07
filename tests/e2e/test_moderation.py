"""Moderation on a real Daphne with Redis, where signal receivers, the channel layer and
the sockets' tasks meet (hardening issue, item 10)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.e2e.conftest import RedisServer, ServerProcess
from tests.e2e.test_multi_instance import connected, create_room, register

pytestmark = pytest.mark.e2e


def make_moderator(server: ServerProcess, username: str) -> str:
    """A new account promoted to site moderator (as an admin would); its access token."""
    register(server, username)
    server.manage(
        "shell",
        "-c",
        "from users.models import User; "
        f"User.objects.filter(username={username!r}).update(role='MODERATOR')",
    )
    status, body = server.request(
        "POST", "/api/v1/auth/token", {"username": username, "password": "a-long-passphrase-1"}
    )
    assert status == 200, body
    token: str = body["access"]
    return token


async def test_moderator_banning_the_owner_over_the_socket_passes_the_crown(
    server_process: Callable[..., ServerProcess], redis_server: RedisServer
) -> None:
    server = server_process({"REDIS_URL": redis_server.url})
    tag = uuid.uuid4().hex[:6]
    owner_token = register(server, f"owner{tag}")
    member_token = register(server, f"member{tag}")
    moderator_token = make_moderator(server, f"mod{tag}")
    room = create_room(server, owner_token)
    async with (
        connected(server.ws_url, token=owner_token) as [owner],
        connected(server.ws_url, token=member_token) as [member],
        connected(server.ws_url, token=moderator_token) as [moderator],
    ):
        await owner.join(room)
        await member.join(room)
        await moderator.join(room)
        await moderator.moderate("BAN", owner.user.id, reason="test")
        removed = await owner.next_message("removed", timeout=5)
        assert removed.removed.reason == pb.REMOVAL_REASON_BANNED

        def crowned(message: pb.ServerMessage) -> bool:
            updated = message.member_updated.member
            return updated.is_owner and updated.user.id == member.user.id

        await member.next_message("member_updated", timeout=5, where=crowned)
    assert "CurrentThreadExecutor" not in server.output
    assert " ERROR " not in server.output
