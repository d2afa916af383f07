"""The rooms REST API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from moderation.models import ModerationAction
from rooms import passwords, services
from rooms.models import ChatMessage, Room, RoomBan
from rooms.room_settings import READABLE_SETTINGS
from users.models import User

pytestmark = pytest.mark.django_db
Authed = Callable[..., APIClient]


def url(room: Room | str, tail: str = "") -> str:
    room_id = room.pk if isinstance(room, Room) else room
    return f"/api/v1/rooms/{room_id}{tail}"


# --- List and create ------------------------------------------------------------------------


def test_list_shows_public_rooms_and_lobby_but_hides_private_ones(
    api_client: APIClient, make_room: Callable[..., Room], owner: User
) -> None:
    make_room("Open", owner=owner)
    make_room("Secret", owner=owner, is_public=False)
    make_room("Locked", owner=owner, password_hash=passwords.hash_room_password("pw"))
    response = api_client.get("/api/v1/rooms/")
    assert response.status_code == 200
    by_name = {r["name"]: r for r in response.json()["results"]}
    assert set(by_name) == {"lobby", "Open", "Locked"}
    assert by_name["Locked"]["has_password"] is True
    assert by_name["lobby"]["is_lobby"] is True
    assert by_name["lobby"]["owner"] is None
    open_room = by_name["Open"]
    assert open_room["owner"] == "owner"
    assert open_room["member_count"] == 0
    assert set(open_room) == {
        "id",
        "name",
        "settings",
        "owner",
        "is_lobby",
        "has_password",
        "member_count",
        "created_at",
    }
    # Every readable setting, in the protocol's order (tests/rooms/test_room_settings.py
    # holds the registry to the .proto).
    assert list(open_room["settings"]) == list(READABLE_SETTINGS)
    assert "password" not in str(response.content).replace("has_password", "")


def test_create_room_returns_201_with_the_room(authed_client: Authed, owner: User) -> None:
    response = authed_client(owner).post(
        "/api/v1/rooms/",
        {"name": "Night Jam", "settings": {"max_members": 5, "password": "pw", "color": "#00FF00"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["owner"], body["has_password"]) == ("Night Jam", "owner", True)
    assert body["settings"]["max_members"] == 5
    assert body["settings"]["color"] == "#00ff00"
    assert "password" not in body["settings"]
    assert Room.objects.get(pk=body["id"]).owner == owner


def test_create_room_needs_authentication(api_client: APIClient) -> None:
    response = api_client.post("/api/v1/rooms/", {"name": "x"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert not Room.objects.filter(name="x").exists()


def test_create_room_with_taken_name_is_409(authed_client: Authed, room: Room) -> None:
    response = authed_client().post("/api/v1/rooms/", {"name": "jazz club"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "ROOM_NAME_TAKEN"


def test_create_room_with_bad_settings_is_400_with_fields(authed_client: Authed) -> None:
    response = authed_client().post(
        "/api/v1/rooms/",
        {"name": " lobby ", "settings": {"max_members": 1000, "color": "red"}},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_ARGUMENT"
    assert set(body["fields"]) == {"name", "settings"}
    assert set(body["fields"]["settings"]) == {"max_members", "color"}


def test_create_room_refuses_lobby_names(authed_client: Authed) -> None:
    response = authed_client().post("/api/v1/rooms/", {"name": "Lobby-4"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["fields"]


@pytest.mark.parametrize(
    "name",
    ["lobby\u25002", "lobby\u30fc2", "lobby\u23af2", "lobby\u22192", "lobby\u2122", "lobby \u2713"],
)
def test_create_room_refuses_names_that_pass_for_a_lobby_with_symbols_or_dashes(
    authed_client: Authed, name: str
) -> None:
    response = authed_client().post("/api/v1/rooms/", {"name": name}, format="json")
    assert response.status_code == 400
    assert "reserved for lobbies" in str(response.json()["fields"]["name"])
    assert not Room.objects.filter(name=name).exists()


# --- Retrieve --------------------------------------------------------------------------------


def test_get_private_room_by_outsider_is_404_like_a_missing_one(
    authed_client: Authed, api_client: APIClient, owner: User, room: Room, moderator: User
) -> None:
    room.is_public = False
    room.save()
    outsider = authed_client().get(url(room))
    missing = authed_client().get(url("00000000-0000-0000-0000-000000000000"))
    anonymous = api_client.get(url(room))
    assert outsider.status_code == missing.status_code == anonymous.status_code == 404
    assert outsider.json() == missing.json()
    assert outsider.json()["code"] == "ROOM_NOT_FOUND"
    assert "Jazz" not in outsider.content.decode()
    assert authed_client(owner).get(url(room)).status_code == 200
    assert authed_client(moderator).get(url(room)).json()["name"] == "Jazz Club"


def test_get_public_room_anonymously(api_client: APIClient, room: Room) -> None:
    response = api_client.get(url(room))
    assert response.status_code == 200
    assert response.json()["id"] == str(room.pk)


# --- Update ----------------------------------------------------------------------------------


def test_patch_another_users_room_is_403_and_unchanged(authed_client: Authed, room: Room) -> None:
    response = authed_client().patch(
        url(room), {"name": "Hijacked", "settings": {"is_public": False}}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    room.refresh_from_db()
    assert (room.name, room.is_public) == ("Jazz Club", True)
    assert not ModerationAction.objects.exists()


def test_patch_private_room_by_outsider_is_404(authed_client: Authed, room: Room) -> None:
    room.is_public = False
    room.save()
    response = authed_client().patch(url(room), {"name": "x"}, format="json")
    assert response.status_code == 404


def test_patch_anonymously_is_401(api_client: APIClient, room: Room) -> None:
    assert api_client.patch(url(room), {"name": "x"}, format="json").status_code == 401


def test_owner_patches_settings_and_clears_password(
    authed_client: Authed, owner: User, room: Room
) -> None:
    client = authed_client(owner)
    response = client.patch(
        url(room), {"settings": {"password": "pw", "welcome_message": "hey"}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["has_password"] is True
    assert response.json()["settings"]["welcome_message"] == "hey"
    response = client.patch(url(room), {"settings": {"password": ""}}, format="json")
    assert response.json()["has_password"] is False
    assert not Room.objects.get(pk=room.pk).password_hash


def test_patch_with_invalid_settings_is_400_and_unchanged(
    authed_client: Authed, owner: User, room: Room
) -> None:
    response = authed_client(owner).patch(
        url(room), {"name": "ok", "settings": {"max_members": 1}}, format="json"
    )
    assert response.status_code == 400
    assert "max_members" in response.json()["fields"]["settings"]
    assert Room.objects.get(pk=room.pk).name == "Jazz Club"


def test_moderator_patch_is_recorded_as_api_action(
    authed_client: Authed, moderator: User, room: Room
) -> None:
    response = authed_client(moderator).patch(url(room), {"name": "Tidy name"}, format="json")
    assert response.status_code == 200
    entry = ModerationAction.objects.get()
    assert (entry.action, entry.source, entry.actor) == ("UPDATE_ROOM", "API", moderator)


# --- Delete ---------------------------------------------------------------------------------


def test_delete_by_non_owner_is_403(authed_client: Authed, room: Room) -> None:
    assert authed_client().delete(url(room)).status_code == 403
    assert Room.objects.filter(pk=room.pk).exists()


def test_delete_by_owner_closes_the_room(authed_client: Authed, owner: User, room: Room) -> None:
    assert authed_client(owner).delete(url(room)).status_code == 204
    assert not Room.objects.filter(pk=room.pk).exists()
    assert ModerationAction.objects.get().action == "CLOSE_ROOM"


def test_delete_lobby_is_refused_even_for_moderators(
    authed_client: Authed, moderator: User
) -> None:
    lobby = services.ensure_lobby()
    response = authed_client(moderator).delete(url(lobby))
    assert response.status_code == 403
    assert "lobby" in response.json()["message"].lower()
    assert Room.objects.filter(pk=lobby.pk).exists()


# --- Messages -------------------------------------------------------------------------------


def test_messages_are_cursor_paginated_newest_first(
    api_client: APIClient, owner: User, room: Room
) -> None:
    for i in range(55):
        services.post_chat_message(room, owner, f"m{i}")
    first = api_client.get(url(room, "/messages")).json()
    assert [m["text"] for m in first["results"]][:2] == ["m54", "m53"]
    assert len(first["results"]) == 50
    assert first["previous"] is None
    second = api_client.get(first["next"]).json()
    assert [m["text"] for m in second["results"]] == ["m4", "m3", "m2", "m1", "m0"]
    assert second["next"] is None
    assert set(first["results"][0]) == {
        "id",
        "username",
        "display_name",
        "role",
        "text",
        "sent_at",
    }
    assert first["results"][0]["role"] == "MEMBER"


def test_messages_of_a_private_room_are_hidden_from_outsiders(
    authed_client: Authed, owner: User, room: Room
) -> None:
    room.is_public = False
    room.save()
    ChatMessage.objects.create(room=room, display_name="owner", text="secret plans")
    outsider = authed_client().get(url(room, "/messages"))
    assert outsider.status_code == 404
    assert "secret" not in outsider.content.decode()
    assert authed_client(owner).get(url(room, "/messages")).json()["results"][0]["text"] == (
        "secret plans"
    )


# --- Bans ------------------------------------------------------------------------------------


def test_owner_bans_lists_and_unbans_a_player(
    authed_client: Authed, owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    make_user("troll")
    client = authed_client(owner)
    response = client.post(
        url(room, "/bans"),
        {"username": "troll", "duration_seconds": 3600, "reason": "spam"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["username"] == "troll"
    assert response.json()["banned_by"] == "owner"
    listed = client.get(url(room, "/bans")).json()
    assert [b["username"] for b in listed] == ["troll"]
    assert client.delete(url(room, "/bans/troll")).status_code == 204
    assert client.get(url(room, "/bans")).json() == []
    actions = list(ModerationAction.objects.order_by("id").values_list("action", "source"))
    assert actions == [("BAN", "API"), ("UNBAN", "API")]


def test_guest_ban_and_unban(authed_client: Authed, owner: User, room: Room) -> None:
    client = authed_client(owner)
    response = client.post(url(room, "/bans"), {"guest_id": "g-0000000000000009"}, format="json")
    assert response.status_code == 201
    assert response.json()["expires_at"] is None
    assert client.delete(url(room, "/bans/guest:g-0000000000000009")).status_code == 204
    assert not RoomBan.objects.exists()


def test_expired_bans_are_not_listed(
    authed_client: Authed, owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    RoomBan.objects.create(room=room, user=make_user(), expires_at=timezone.now() - timedelta(1))
    assert authed_client(owner).get(url(room, "/bans")).json() == []


def test_bans_are_for_owner_and_moderators_only(
    authed_client: Authed,
    api_client: APIClient,
    room: Room,
    moderator: User,
    make_user: Callable[..., User],
) -> None:
    target = make_user("target")
    member = authed_client()
    assert member.get(url(room, "/bans")).status_code == 403
    assert member.post(url(room, "/bans"), {"username": "target"}, format="json").status_code == (
        403
    )
    assert api_client.get(url(room, "/bans")).status_code == 401
    assert not RoomBan.objects.exists()
    services.ban_from_room(moderator, room, target_user=target, source="API")
    assert member.delete(url(room, "/bans/target")).status_code == 403
    assert RoomBan.objects.count() == 1
    assert authed_client(moderator).get(url(room, "/bans")).status_code == 200


def test_ban_input_errors(authed_client: Authed, owner: User, room: Room) -> None:
    client = authed_client(owner)
    unknown = client.post(url(room, "/bans"), {"username": "nobody"}, format="json")
    assert unknown.status_code == 400
    assert "username" in unknown.json()["fields"]
    both = client.post(url(room, "/bans"), {"guest_id": "g", "username": "owner"}, format="json")
    assert both.status_code == 400
    neither = client.post(url(room, "/bans"), {"reason": "?"}, format="json")
    assert neither.status_code == 400
    negative = client.post(
        url(room, "/bans"), {"guest_id": "g", "duration_seconds": -5}, format="json"
    )
    assert negative.status_code == 400
    self_ban = client.post(url(room, "/bans"), {"username": "owner"}, format="json")
    assert self_ban.status_code == 403
    for junk in ("\u00b2", "123", "g-", "g-" + "0" * 100, "G-0123456789ABCDEF"):
        response = client.post(url(room, "/bans"), {"guest_id": junk}, format="json")
        assert response.status_code == 400, junk
        assert "guest_id" in response.json()["fields"]
    assert client.delete(url(room, "/bans/nobody")).status_code == 404
    assert not RoomBan.objects.exists()


def test_bans_of_a_private_room_are_404_to_outsiders(authed_client: Authed, room: Room) -> None:
    room.is_public = False
    room.save()
    assert authed_client().get(url(room, "/bans")).status_code == 404


def test_patch_with_a_setting_outside_settings_is_refused_and_changes_nothing(
    make_user: Callable[..., User],
    make_room: Callable[..., Room],
    authed_client: Callable[[User | None], APIClient],
) -> None:
    owner = make_user()
    room = make_room(owner=owner)
    response = authed_client(owner).patch(
        f"/api/v1/rooms/{room.pk}", {"chat_enabled": False}, format="json"
    )
    assert response.status_code == 400
    assert "settings" in response.json()["fields"]["chat_enabled"][0]
    room.refresh_from_db()
    assert room.chat_enabled is True
    response = authed_client(owner).patch(
        f"/api/v1/rooms/{room.pk}", {"settings": {"loudness": 11}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"]["settings"]["loudness"] == ["Unknown field."]


def test_owner_cannot_lift_a_moderators_ban_of_themselves(
    authed_client: Authed, owner: User, room: Room, moderator: User
) -> None:
    assert (
        authed_client(moderator).post(url(room, "/bans"), {"username": "owner"}, format="json")
    ).status_code == 201
    response = authed_client(owner).delete(url(room, "/bans/owner"))
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert RoomBan.objects.filter(user=owner).exists()
    assert not ModerationAction.objects.filter(action="UNBAN").exists()


def test_owner_cannot_lift_or_shorten_a_ban_a_moderator_set(
    authed_client: Authed,
    owner: User,
    room: Room,
    moderator: User,
    make_user: Callable[..., User],
) -> None:
    make_user("troll")
    body = {"username": "troll", "reason": "raid"}
    assert authed_client(moderator).post(url(room, "/bans"), body, format="json").status_code == 201
    owner_client = authed_client(owner)
    assert owner_client.delete(url(room, "/bans/troll")).status_code == 403
    shorter = {"username": "troll", "duration_seconds": 1}
    assert owner_client.post(url(room, "/bans"), shorter, format="json").status_code == 403
    ban = RoomBan.objects.get()
    assert (ban.banned_by, ban.expires_at) == (moderator, None)
    # The moderator (or a higher rank) still can.
    assert authed_client(moderator).delete(url(room, "/bans/troll")).status_code == 204


def test_owner_still_lifts_their_own_bans(
    authed_client: Authed, owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    make_user("troll")
    client = authed_client(owner)
    assert client.post(url(room, "/bans"), {"username": "troll"}, format="json").status_code == 201
    assert client.delete(url(room, "/bans/troll")).status_code == 204


# --- Bounds (hardening 9) ----------------------------------------------------------------------


def test_room_list_is_paginated_lobbies_first_and_searchable(
    api_client: APIClient, make_room: Callable[..., Room], owner: User
) -> None:
    Room.objects.bulk_create(Room(name=f"room {n:03}", owner=owner) for n in range(120))
    first = api_client.get("/api/v1/rooms/").json()
    assert first["count"] == 121  # and the lobby
    assert len(first["results"]) == 50
    assert first["results"][0]["name"] == "lobby"
    assert [r["name"] for r in first["results"][1:3]] == ["room 000", "room 001"]
    second = api_client.get(first["next"]).json()
    assert second["results"][0]["name"] == "room 049"
    big = api_client.get("/api/v1/rooms/?page_size=1000").json()
    assert len(big["results"]) == 100  # the most a page holds
    found = api_client.get("/api/v1/rooms/?search=ROOM 11").json()
    assert [r["name"] for r in found["results"]] == [f"room {n}" for n in range(110, 120)]
    too_long = api_client.get("/api/v1/rooms/?search=" + "x" * 65)
    assert too_long.status_code == 400
    assert "search" in too_long.json()["fields"]


def test_one_account_cannot_open_more_rooms_than_the_limit(
    authed_client: Authed, owner: User, settings: Any
) -> None:
    settings.MAX_ROOMS_PER_ACCOUNT = 3
    client = authed_client(owner)
    for n in range(3):
        assert (
            client.post("/api/v1/rooms/", {"name": f"mine {n}"}, format="json").status_code == 201
        )
    refused = client.post("/api/v1/rooms/", {"name": "one too many"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "ROOM_LIMIT_REACHED"
    assert not Room.objects.filter(name="one too many").exists()
    # Closing one makes room for another.
    mine = Room.objects.get(name="mine 0")
    assert client.delete(url(mine)).status_code == 204
    assert client.post("/api/v1/rooms/", {"name": "again"}, format="json").status_code == 201


def test_site_moderators_may_open_any_number_of_rooms(
    authed_client: Authed, moderator: User, settings: Any
) -> None:
    settings.MAX_ROOMS_PER_ACCOUNT = 1
    client = authed_client(moderator)
    for n in range(3):
        assert (
            client.post("/api/v1/rooms/", {"name": f"event {n}"}, format="json").status_code == 201
        )


@pytest.mark.django_db(transaction=True)
def test_rooms_created_at_once_stop_at_the_limit(
    make_user: Callable[..., User], settings: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    settings.MAX_ROOMS_PER_ACCOUNT = 10
    owner = make_user("frank")

    def create(n: int) -> int:
        client = APIClient()
        client.force_authenticate(owner)
        try:
            return int(
                client.post("/api/v1/rooms/", {"name": f"race {n}"}, format="json").status_code
            )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(20)))
    assert statuses.count(201) == 10
    assert statuses.count(403) == 10
    assert Room.objects.filter(owner=owner).count() == 10


def test_giving_a_room_away_respects_the_receivers_limit(
    authed_client: Authed, owner: User, room: Room, make_user: Callable[..., User], settings: Any
) -> None:
    settings.MAX_ROOMS_PER_ACCOUNT = 1
    dave = make_user("dave")
    Room.objects.create(name="daves own", owner=dave)
    from rooms.exceptions import RoomLimitReachedError

    with pytest.raises(RoomLimitReachedError):
        services.give_ownership(owner, room, dave, source=ModerationAction.Source.API)
    room.refresh_from_db()
    assert room.owner == owner
