"""Credentials and roles changed elsewhere reach open sockets and tokens at once (hardening
issue, items 5 and 6): a password change or a logout ends access, a role change updates the
identity of live sockets, a deleted account's sockets close."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from foundation.db import database_sync_to_async
from moderation.models import ModerationAction
from pianorhythm.asgi import application
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from rooms.models import Room
from tests.realtime.conftest import ORIGIN, Connect, ConnectUser, Player, with_host
from users import services as user_services
from users.models import User

in_thread = database_sync_to_async
PASSWORD = "a-long-passphrase-1"


def kinds(messages: list[pb.ServerMessage]) -> list[str]:
    return [m.WhichOneof("kind") or "" for m in messages]


@sync_to_async
def token_pair(user: User) -> dict[str, str]:
    response = APIClient().post(
        "/api/v1/auth/token", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


@sync_to_async
def api(method: str, path: str, token: str = "", body: Any = None) -> tuple[int, Any]:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = getattr(client, method)(path, body, format="json")
    if not response.get("Content-Type", "").startswith("application/json"):
        return response.status_code, None
    return response.status_code, response.json()


async def socket_with(connect: Connect, access: str) -> Player:
    return await connect(headers=[ORIGIN, (b"authorization", f"Bearer {access}".encode())])


async def refused_handshake(headers: list[tuple[bytes, bytes]], path: str = "/ws/") -> bool:
    communicator = WebsocketCommunicator(application, path, headers=with_host(headers))
    connected, _ = await communicator.connect(timeout=5)
    if connected:
        await communicator.disconnect()
    return not connected


@pytest.fixture
async def alice(make_user: Any, fast_passwords: None, transactional_db: None) -> User:
    user: User = await in_thread(make_user)("alice", password=PASSWORD)
    return user


@in_thread
def change_password(user: User, new: str = "another-long-passphrase-2") -> None:
    fresh = User.objects.get(pk=user.pk)
    fresh.set_password(new)
    fresh.save()


# --- password change (item 6) -------------------------------------------------------------


async def test_password_change_ends_old_tokens_tickets_and_sockets(
    connect: Connect, alice: User
) -> None:
    pair = await token_pair(alice)
    status, ticket = await api("post", "/api/v1/realtime/tickets", pair["access"])
    assert status == 201
    bot = await socket_with(connect, pair["access"])
    await bot.join()
    await change_password(alice)
    assert await bot.expect_close(timeout=2) == 4401
    assert (await api("get", "/api/v1/users/me", pair["access"]))[0] == 401
    status, _ = await api("post", "/api/v1/auth/token/refresh", body={"refresh": pair["refresh"]})
    assert status == 401
    assert (await api("post", "/api/v1/realtime/tickets", pair["access"]))[0] == 401
    # A ticket issued before the change no longer opens a socket, nor does the old token.
    assert await refused_handshake([ORIGIN], path=f"/ws/?ticket={ticket['ticket']}")
    assert await refused_handshake(
        [ORIGIN, (b"authorization", f"Bearer {pair['access']}".encode())]
    )


async def test_password_change_closes_the_web_sessions_sockets_too(
    connect: Connect, alice: User
) -> None:
    browser = Client()
    await in_thread(browser.force_login)(alice)
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    web = await connect(headers=[ORIGIN, (b"cookie", f"sessionid={cookie}".encode())])
    await change_password(alice)
    assert await web.expect_close(timeout=2) == 4401


async def test_an_admins_password_change_in_the_admin_ends_the_players_access(
    connect: Connect, alice: User
) -> None:
    pair = await token_pair(alice)
    bot = await socket_with(connect, pair["access"])
    await bot.join()
    admin = await in_thread(User.objects.create_superuser)("root", password=PASSWORD)
    browser = Client()
    await in_thread(browser.force_login)(admin)
    new = PASSWORD + "-set-by-admin"
    response = await in_thread(browser.post)(
        f"/admin/users/user/{alice.pk}/password/", {"password1": new, "password2": new}
    )
    assert response.status_code == 302, response.content[:500]
    assert await bot.expect_close(timeout=2) == 4401
    assert (await api("get", "/api/v1/users/me", pair["access"]))[0] == 401
    status, _ = await api("post", "/api/v1/auth/token/refresh", body={"refresh": pair["refresh"]})
    assert status == 401


async def test_new_credentials_work_after_a_password_change(connect: Connect, alice: User) -> None:
    await change_password(alice, PASSWORD + "-new")
    response = await sync_to_async(APIClient().post)(
        "/api/v1/auth/token",
        {"username": "alice", "password": PASSWORD + "-new"},
        format="json",
    )
    assert response.status_code == 200
    player = await socket_with(connect, response.json()["access"])
    await player.join()


# --- logout (item 6) -----------------------------------------------------------------------


async def test_logout_ends_that_sign_in_its_access_tokens_and_its_sockets_only(
    connect: Connect, alice: User
) -> None:
    phone, laptop = await token_pair(alice), await token_pair(alice)
    on_phone = await socket_with(connect, phone["access"])
    on_laptop = await socket_with(connect, laptop["access"])
    status, _ = await api("post", "/api/v1/auth/logout", body={"refresh": phone["refresh"]})
    assert status == 204
    assert await on_phone.expect_close(timeout=2) == 4401
    assert (await api("get", "/api/v1/users/me", phone["access"]))[0] == 401
    assert (await api("post", "/api/v1/realtime/tickets", phone["access"]))[0] == 401
    # The other sign-in goes on.
    assert (await api("get", "/api/v1/users/me", laptop["access"]))[0] == 200
    await on_laptop.send(time_sync=pb.TimeSync(client_time=7))
    assert (await on_laptop.expect("time_sync")).client_time == 7


async def test_logout_reaches_sockets_opened_with_a_ticket_of_that_sign_in(
    connect: Connect, alice: User
) -> None:
    pair = await token_pair(alice)
    _, ticket = await api("post", "/api/v1/realtime/tickets", pair["access"])
    player = await connect(headers=[ORIGIN], path=f"/ws/?ticket={ticket['ticket']}")
    await api("post", "/api/v1/auth/logout", body={"refresh": pair["refresh"]})
    assert await player.expect_close(timeout=2) == 4401


async def test_a_refreshed_pair_belongs_to_the_same_sign_in(connect: Connect, alice: User) -> None:
    pair = await token_pair(alice)
    status, rotated = await api(
        "post", "/api/v1/auth/token/refresh", body={"refresh": pair["refresh"]}
    )
    assert status == 200
    player = await socket_with(connect, pair["access"])
    await api("post", "/api/v1/auth/logout", body={"refresh": rotated["refresh"]})
    assert await player.expect_close(timeout=2) == 4401
    assert (await api("get", "/api/v1/users/me", rotated["access"]))[0] == 401


# --- verify (item 6) -------------------------------------------------------------------------


async def test_verify_says_no_to_refresh_tokens_and_to_deactivated_users(alice: User) -> None:
    pair = await token_pair(alice)
    verify = "/api/v1/auth/token/verify"
    assert (await api("post", verify, body={"token": pair["access"]}))[0] == 200
    assert (await api("post", verify, body={"token": pair["refresh"]}))[0] == 401
    await in_thread(User.objects.filter(pk=alice.pk).update)(is_active=False)
    assert (await api("post", verify, body={"token": pair["access"]}))[0] == 401


async def test_verify_says_no_after_a_password_change_or_a_logout(alice: User) -> None:
    verify = "/api/v1/auth/token/verify"
    pair = await token_pair(alice)
    await api("post", "/api/v1/auth/logout", body={"refresh": pair["refresh"]})
    assert (await api("post", verify, body={"token": pair["access"]}))[0] == 401
    pair = await token_pair(alice)
    await change_password(alice)
    assert (await api("post", verify, body={"token": pair["access"]}))[0] == 401


# --- role changes and deletion (item 5) -----------------------------------------------------


@in_thread
def admin_sets_role(user: User, role: str) -> None:
    admin = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
        "root", "root@example.com", PASSWORD
    )
    user_services.set_role(
        User.objects.get(pk=user.pk), role, by=admin, source=ModerationAction.Source.ADMIN
    )


async def test_demoted_moderator_loses_moderator_powers_on_open_sockets(
    connect_user: ConnectUser, make_user: Any
) -> None:
    owner = await connect_user()
    await owner.join("den", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    moderator = await connect_user(role=User.Role.MODERATOR)
    await moderator.join("den")
    assert moderator.account is not None
    await admin_sets_role(moderator.account, User.Role.MEMBER)
    # Within two seconds the socket is a member's: its own identity and the room say so.
    updated = await owner.expect("member_updated", timeout=2)
    assert updated.member.user.role == pb.ROLE_MEMBER
    await moderator.drain(0.1)
    await moderator.send(update_room=pb.UpdateRoom(settings=pb.RoomSettings(password="mine")))
    error = await moderator.expect("error")
    assert error.code == pb.ERROR_CODE_FORBIDDEN
    assert owner.user is not None
    await moderator.send(
        moderate=pb.Moderate(action=pb.MODERATION_ACTION_BAN, target_user_id=owner.user.id)
    )
    assert (await moderator.expect("error")).code == pb.ERROR_CODE_FORBIDDEN
    room = await in_thread(Room.objects.get)(name="den")
    assert not room.has_password
    assert "removed" not in kinds(await owner.drain(0.2))


async def test_promoted_member_gains_moderator_powers_on_open_sockets(
    connect_user: ConnectUser,
) -> None:
    owner = await connect_user()
    await owner.join("den", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    member = await connect_user()
    await member.join("den")
    assert member.account is not None
    await admin_sets_role(member.account, User.Role.MODERATOR)
    updated = await owner.expect("member_updated", timeout=2)
    assert updated.member.user.role == pb.ROLE_MODERATOR
    await member.send(update_room=pb.UpdateRoom(settings=pb.RoomSettings(color="#123456")))
    assert (await owner.expect("room_updated", timeout=2)).room.settings.color == "#123456"


async def test_deleted_accounts_sockets_are_closed(connect_user: ConnectUser) -> None:
    player = await connect_user()
    other = await connect_user()
    await player.join()
    await other.join()
    assert player.account is not None
    account_id = player.account.pk

    @in_thread
    def delete_account() -> None:
        User.objects.get(pk=account_id).delete()

    await delete_account()
    assert await player.expect_close(timeout=2) == 4401
    await player.ws.disconnect()  # the client's side of the closing handshake
    assert (await other.expect("member_left", timeout=2)).session_id == player.session_id


async def test_a_logout_is_not_forgotten_however_many_tickets_are_minted(alice: User) -> None:
    from realtime import tickets

    pair = await token_pair(alice)
    await api("post", "/api/v1/auth/logout", body={"refresh": pair["refresh"]})
    grant = tickets.TicketGrant(user_id=alice.pk, stamp="s")
    for _ in range(25_000):
        tickets.issue_ticket(grant)
    assert (await api("get", "/api/v1/users/me", pair["access"]))[0] == 401
    assert (await api("post", "/api/v1/auth/token/verify", body={"token": pair["access"]}))[
        0
    ] == 401


async def test_tickets_are_throttled(alice: User) -> None:
    pair = await token_pair(alice)
    statuses = [
        (await api("post", "/api/v1/realtime/tickets", pair["access"]))[0] for _ in range(31)
    ]
    assert statuses[:30] == [201] * 30
    assert statuses[30] == 429
