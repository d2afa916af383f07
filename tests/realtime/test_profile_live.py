"""A name or colour changed outside the room (the profile page, ``PATCH /api/v1/users/me``)
reaches every room the player is in at once: each open socket of the account takes its new
identity and its room gets ``memberUpdated`` (docs/protocol.md, "memberUpdated"), by the same
path as a role change (users.receivers, realtime.control.refresh_identity)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework.test import APIClient

from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.realtime.conftest import ConnectUser, Player
from users.models import User

PASSWORD = "a-long-passphrase-1"


@sync_to_async
def patch_me(user: User, body: dict[str, str]) -> None:
    client = APIClient()
    tokens = client.post(
        "/api/v1/auth/token", {"username": user.username, "password": PASSWORD}, format="json"
    ).json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    response = client.patch("/api/v1/users/me", body, format="json")
    assert response.status_code == 200, response.content


@sync_to_async
def save_profile_page(user: User, display_name: str, color: str) -> None:
    client = Client()
    client.force_login(user)
    response = client.post(
        "/accounts/profile/",
        {"display_name": display_name, "color": color, "status_text": "", "bio": ""},
    )
    assert response.status_code == 302, response.content


async def _updated(observer: Player, user_id: str) -> pb.UserInfo:
    while True:
        message = await observer.expect("member_updated", timeout=2)
        user: pb.UserInfo = message.member.user
        if user.id == user_id:
            return user


async def test_a_profile_change_by_the_api_reaches_every_room_the_player_is_in(
    connect_user: ConnectUser, make_user: Any, transactional_db: None
) -> None:
    ada = await sync_to_async(make_user)(display_name="Ada")
    in_den, in_hall = await connect_user(ada), await connect_user(ada)
    bob, carol = await connect_user(), await connect_user()
    await bob.join("den", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    await carol.join("hall", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    await in_den.join("den")
    await in_hall.join("hall")
    await bob.drain(0.1)
    await carol.drain(0.1)

    await patch_me(ada, {"display_name": "Ada L.", "color": "#ff8800"})

    for observer in (bob, carol, in_den, in_hall):
        user = await _updated(observer, str(ada.pk))
        assert (user.display_name, user.color) == ("Ada L.", "#ff8800")


async def test_a_profile_page_change_reaches_the_players_room(
    connect_user: ConnectUser, make_user: Any, transactional_db: None
) -> None:
    ada = await sync_to_async(make_user)(display_name="Ada")
    player, bob = await connect_user(ada), await connect_user()
    await bob.join("den", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    await player.join("den")
    await bob.drain(0.1)

    await save_profile_page(ada, "Countess", "#2255cc")

    user = await _updated(bob, str(ada.pk))
    assert (user.display_name, user.color) == ("Countess", "#2255cc")


async def test_an_accounts_change_in_one_room_is_saved_and_reaches_its_other_rooms(
    connect_user: ConnectUser, make_user: Any, transactional_db: None
) -> None:
    ada = await sync_to_async(make_user)(display_name="Ada")
    in_den, in_hall = await connect_user(ada), await connect_user(ada)
    carol = await connect_user()
    await in_den.join("den", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    await carol.join("hall", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    await in_hall.join("hall")
    await carol.drain(0.1)

    await in_den.send(update_profile=pb.UpdateProfile(display_name="Ada L.", color="#ff8800"))

    user = await _updated(carol, str(ada.pk))
    assert (user.display_name, user.color) == ("Ada L.", "#ff8800")
    saved = await sync_to_async(User.objects.get)(pk=ada.pk)
    assert (saved.display_name, saved.color) == ("Ada L.", "#ff8800")
