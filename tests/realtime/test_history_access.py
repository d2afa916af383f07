"""Who may read a password room's chat history and welcome message over REST: its members
(present on a socket now), its owner and site moderators; everyone else gets 404, as for a
private room (hardening issue, item 2)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework.test import APIClient

from foundation.db import database_sync_to_async
from moderation.models import ModerationAction
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from rooms import services as room_services
from rooms.models import ChatMessage, Room
from rooms.passwords import hash_room_password
from tests.realtime.conftest import ORIGIN, Connect, ConnectUser
from users.guests import GUEST_COOKIE, guest_cookie_value
from users.models import User

in_thread = database_sync_to_async
SECRET = "the heist is at nine"
WELCOME = "Password is shared on Discord only"


@in_thread
def password_room(owner: User) -> Room:
    room = Room.objects.create(
        name="vault",
        owner=owner,
        persistent=True,
        welcome_message=WELCOME,
        password_hash=hash_room_password("letmein"),
    )
    ChatMessage.objects.create(room=room, user=owner, display_name="owner", text=SECRET)
    return room


@sync_to_async
def rest_get(path: str, user: User | None = None, guest_id: str = "") -> tuple[int, Any]:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    if guest_id:
        client.cookies[GUEST_COOKIE] = guest_cookie_value(guest_id)
    response = client.get(path)
    return response.status_code, response.json()


async def history(room: Room, user: User | None = None, guest_id: str = "") -> tuple[int, Any]:
    return await rest_get(f"/api/v1/rooms/{room.pk}/messages", user, guest_id)


async def detail(room: Room, user: User | None = None, guest_id: str = "") -> tuple[int, Any]:
    return await rest_get(f"/api/v1/rooms/{room.pk}", user, guest_id)


@pytest.fixture
async def vault(transactional_db: None, make_user: Any, fast_passwords: None) -> tuple[User, Room]:
    owner = await in_thread(make_user)("vaultowner")
    return owner, await password_room(owner)


async def test_outsiders_cannot_read_a_password_rooms_chat_history_or_welcome(
    vault: tuple[User, Room], make_user: Any
) -> None:
    _owner, room = vault
    stranger = await in_thread(make_user)()
    for who in ({}, {"user": stranger}, {"guest_id": "g-0123456789abcdef"}):
        status, body = await history(room, **who)
        assert status == 404
        assert SECRET not in str(body)
        status, body = await detail(room, **who)
        assert status == 200  # the room is public: it is listed
        assert body["settings"]["welcome_message"] == ""


async def test_a_player_banned_from_a_password_room_cannot_read_its_history(
    vault: tuple[User, Room], make_user: Any
) -> None:
    owner, room = vault
    troll = await in_thread(make_user)()
    await in_thread(room_services.ban_from_room)(
        owner, room, target_user=troll, source=ModerationAction.Source.API
    )
    assert (await history(room, troll))[0] == 404


async def test_owner_and_moderators_read_a_password_rooms_history(
    vault: tuple[User, Room], make_user: Any
) -> None:
    owner, room = vault
    moderator = await in_thread(make_user)(role=User.Role.MODERATOR)
    for who in (owner, moderator):
        status, body = await history(room, who)
        assert status == 200
        assert body["results"][0]["text"] == SECRET
        assert (await detail(room, who))[1]["settings"]["welcome_message"] == WELCOME


async def test_members_present_in_a_password_room_read_its_history(
    vault: tuple[User, Room], connect: Connect, connect_user: ConnectUser, make_user: Any
) -> None:
    _owner, room = vault
    member = await connect_user()
    assert member.account is not None
    assert (await history(room, member.account))[0] == 404
    await member.join("vault", password="letmein")
    status, body = await history(room, member.account)
    assert status == 200
    assert body["results"][0]["text"] == SECRET
    assert (await detail(room, member.account))[1]["settings"]["welcome_message"] == WELCOME
    # A guest in the room, known to REST by the guest cookie of the same browser.
    cookie = f"{GUEST_COOKIE}={guest_cookie_value('g-00000000000000aa')}".encode()
    guest = await connect(headers=[ORIGIN, (b"cookie", cookie)])
    await guest.join("vault", password="letmein")
    assert (await history(room, guest_id="g-00000000000000aa"))[0] == 200
    # Once gone, no longer.
    await member.send(leave_room=pb.LeaveRoom())
    await member.drain(0.1)
    assert (await history(room, member.account))[0] == 404


def test_rooms_without_a_password_keep_a_public_history(db: None, make_user: Any) -> None:
    owner = make_user()
    room = Room.objects.create(name="open", owner=owner, welcome_message="hi all")
    ChatMessage.objects.create(room=room, user=owner, display_name="o", text="hello")
    anonymous = Client()
    assert anonymous.get(f"/api/v1/rooms/{room.pk}/messages").status_code == 200
    body = anonymous.get(f"/api/v1/rooms/{room.pk}").json()
    assert body["settings"]["welcome_message"] == "hi all"
