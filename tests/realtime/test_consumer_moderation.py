"""Moderation over the socket, and moderation done elsewhere (REST API, services the admin
uses) reaching live sockets (docs/protocol.md, moderate; docs/security.md)."""

from __future__ import annotations

import logging
from datetime import timedelta
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
from rooms.models import Room, RoomBan
from tests.realtime.conftest import ORIGIN, Connect, ConnectUser, Player, bearer_headers
from users import services as user_services
from users.models import User

in_thread = database_sync_to_async

KICK = pb.MODERATION_ACTION_KICK
BAN = pb.MODERATION_ACTION_BAN
UNBAN = pb.MODERATION_ACTION_UNBAN
MUTE = pb.MODERATION_ACTION_MUTE
UNMUTE = pb.MODERATION_ACTION_UNMUTE
GIVE = pb.MODERATION_ACTION_GIVE_OWNERSHIP


def moderate(action: int, target: Player, **fields: Any) -> pb.Moderate:
    assert target.user is not None
    return pb.Moderate(action=action, target_user_id=target.user.id, **fields)  # type: ignore[arg-type]


async def refused(player: Player, **message: object) -> pb.Error:
    await player.send(**message)
    error: pb.Error = await player.expect("error")
    return error


def username(player: Player) -> str:
    assert player.user is not None
    return player.user.username


def kinds(messages: list[pb.ServerMessage]) -> list[str]:
    return [m.WhichOneof("kind") or "" for m in messages]


@in_thread
def actions_recorded() -> list[tuple[str, str, str]]:
    return list(
        ModerationAction.objects.order_by("id").values_list("action", "source", "target_name")
    )


async def room_with(
    connect: Connect, connect_user: ConnectUser, name: str = "club"
) -> tuple[Player, Player, Player]:
    """An owner, a registered member and a guest in a new room; all joins already heard."""
    owner = await connect_user()
    await owner.join(name, create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    member = await connect_user()
    await member.join(name)
    guest = await connect()
    await guest.join(name)
    for player in (owner, member, guest):
        await player.drain(0.05)
    return owner, member, guest


@sync_to_async
def rest_call(user: User, method: str, path: str, body: dict[str, Any] | None = None) -> int:
    client = APIClient()
    client.force_authenticate(user)
    response = getattr(client, method)(path, body, format="json")
    return int(response.status_code)


# --- kick --------------------------------------------------------------------------------------


async def test_kick_removes_the_target_and_tells_the_others(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    await owner.send(moderate=moderate(KICK, member, reason="be nice"))
    removed = await member.expect("removed")
    assert removed.reason == pb.REMOVAL_REASON_KICKED
    assert removed.message == "be nice"
    for player in (owner, guest):
        assert (await player.expect("member_left")).session_id == member.session_id
    assert await actions_recorded() == [("KICK", "WEBSOCKET", username(member))]
    # Kicked is not banned: they may come back.
    await member.join("club")


async def test_kicked_player_hears_nothing_more_from_the_room(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    await owner.send(moderate=moderate(KICK, guest))
    await guest.expect("removed")
    await member.send(chat=pb.ChatSend(text="bye"))
    assert "chat" not in kinds(await guest.drain(0.2))
    error = await refused(guest, chat=pb.ChatSend(text="hey"))
    assert error.code == pb.ERROR_CODE_NOT_IN_ROOM


async def test_kick_of_someone_not_in_the_room_is_invalid_argument(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, _member, _guest = await room_with(connect, connect_user)
    outsider = await connect()
    error = await refused(owner, moderate=moderate(KICK, outsider))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT


# --- ban and unban ---------------------------------------------------------------------------


async def test_banned_player_is_removed_and_refused_on_a_new_socket(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    await owner.send(moderate=moderate(BAN, member, duration_seconds=600, reason="spam"))
    removed = await member.expect("removed")
    assert removed.reason == pb.REMOVAL_REASON_BANNED
    assert removed.until > 0
    assert (await guest.expect("member_left")).session_id == member.session_id
    # Same account, new socket.
    again = await connect_user(member.account)
    error = await refused(again, join_room=pb.JoinRoom(room_name="club"))
    assert error.code == pb.ERROR_CODE_BANNED
    error = await refused(member, join_room=pb.JoinRoom(room_name="club"))
    assert error.code == pb.ERROR_CODE_BANNED
    assert await actions_recorded() == [("BAN", "WEBSOCKET", username(member))]


async def test_banned_guest_is_refused_on_rejoin(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, _member, guest = await room_with(connect, connect_user)
    await owner.send(moderate=moderate(BAN, guest))
    assert (await guest.expect("removed")).reason == pb.REMOVAL_REASON_BANNED
    error = await refused(guest, join_room=pb.JoinRoom(room_name="club"))
    assert error.code == pb.ERROR_CODE_BANNED


async def test_unban_lets_the_player_back_in(connect: Connect, connect_user: ConnectUser) -> None:
    owner, member, _guest = await room_with(connect, connect_user)
    await owner.send(moderate=moderate(BAN, member))
    await member.expect("removed")
    await owner.send(moderate=moderate(UNBAN, member))
    await owner.drain(0.1)
    await member.join("club")
    assert [a for a, _, _ in await actions_recorded()] == ["BAN", "UNBAN"]


async def test_unban_of_someone_not_banned_is_invalid_argument(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, _guest = await room_with(connect, connect_user)
    error = await refused(owner, moderate=moderate(UNBAN, member))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert error.request == "moderate"


async def test_owner_cannot_lift_a_site_moderators_ban_over_the_socket(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, _guest = await room_with(connect, connect_user)
    moderator = await connect_user(role=User.Role.MODERATOR)
    await moderator.join("club")
    await moderator.send(moderate=moderate(BAN, member))
    await member.expect("removed")
    await owner.drain(0.1)
    error = await refused(owner, moderate=moderate(UNBAN, member))
    assert error.code == pb.ERROR_CODE_FORBIDDEN
    refused_join = await refused(member, join_room=pb.JoinRoom(room_name="club"))
    assert refused_join.code == pb.ERROR_CODE_BANNED
    assert [a for a, _, _ in await actions_recorded()] == ["BAN"]


async def test_ban_through_the_rest_api_removes_the_live_socket(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    room = await in_thread(Room.objects.get)(name="club")
    assert member.account is not None
    assert owner.account is not None

    body = {"username": member.account.username, "reason": "rest ban"}
    assert await rest_call(owner.account, "post", f"/api/v1/rooms/{room.pk}/bans", body) == 201
    removed = await member.expect("removed", timeout=2)
    assert (removed.reason, removed.message) == (pb.REMOVAL_REASON_BANNED, "rest ban")
    assert (await guest.expect("member_left")).session_id == member.session_id
    error = await refused(member, join_room=pb.JoinRoom(room_name="club"))
    assert error.code == pb.ERROR_CODE_BANNED


# --- mute --------------------------------------------------------------------------------------


async def test_mute_stops_playing_and_chat_until_unmuted(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    await owner.send(moderate=moderate(MUTE, member))
    updated = await guest.expect("member_updated")
    assert (updated.member.session_id, updated.member.muted) == (member.session_id, True)
    await member.drain(0.05)
    batch = pb.NoteBatch(start_time=1e12 + 1, notes=[pb.NoteEvent(key=60, velocity=1)])
    assert (await refused(member, note_batch=batch)).code == pb.ERROR_CODE_MUTED
    assert (await refused(member, chat=pb.ChatSend(text="hi"))).code == pb.ERROR_CODE_MUTED
    assert "note_batch" not in kinds(await guest.drain(0.1))
    await owner.send(moderate=moderate(UNMUTE, member))
    updated = await guest.expect("member_updated")
    assert updated.member.muted is False
    await member.send(chat=pb.ChatSend(text="thanks"))
    assert (await guest.expect("chat")).text == "thanks"
    assert [a for a, _, _ in await actions_recorded()] == ["MUTE", "UNMUTE"]


async def test_muted_member_shows_as_muted_to_later_joiners(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, _guest = await room_with(connect, connect_user)
    await owner.send(moderate=moderate(MUTE, member, duration_seconds=60))
    await owner.expect("member_updated")
    late = await connect()
    state = await late.join("club")
    assert {m.session_id: m.muted for m in state.members}[member.session_id] is True


async def test_mute_survives_leaving_and_rejoining(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    await owner.send(moderate=moderate(MUTE, member, duration_seconds=600))
    await guest.expect("member_updated")
    await member.send(leave_room=pb.LeaveRoom())
    state = await member.join("club")
    assert {m.session_id: m.muted for m in state.members}[member.session_id] is True
    assert (await refused(member, chat=pb.ChatSend(text="back"))).code == pb.ERROR_CODE_MUTED
    await owner.send(moderate=moderate(UNMUTE, member))
    await guest.expect("member_updated")
    await member.drain(0.05)
    await member.send(chat=pb.ChatSend(text="free"))
    assert (await guest.expect("chat")).text == "free"


# --- ownership -------------------------------------------------------------------------------


async def test_give_ownership_announces_the_new_owner(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    assert member.user is not None
    assert owner.user is not None
    await owner.send(moderate=moderate(GIVE, member))
    heard = await guest.drain(0.3)
    updates = [m.room_updated.room.owner_user_id for m in heard if m.HasField("room_updated")]
    assert updates == [member.user.id]
    changed = {
        m.member_updated.member.session_id: m.member_updated.member.is_owner
        for m in heard
        if m.HasField("member_updated")
    }
    assert changed == {member.session_id: True, owner.session_id: False}
    room = await in_thread(Room.objects.get)(name="club")
    assert room.owner_id == member.account.pk  # type: ignore[union-attr]
    # The old owner lost their powers; the new one has them.
    change = pb.UpdateRoom(settings=pb.RoomSettings(color="#000000"))
    assert (await refused(owner, update_room=change)).code == pb.ERROR_CODE_FORBIDDEN
    await member.send(update_room=change)
    assert (await guest.expect("room_updated")).room.settings.color == "#000000"


async def test_ownership_cannot_go_to_a_guest(connect: Connect, connect_user: ConnectUser) -> None:
    owner, _member, guest = await room_with(connect, connect_user)
    error = await refused(owner, moderate=moderate(GIVE, guest))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT


# --- who may moderate ---------------------------------------------------------------------------


@pytest.mark.parametrize("action", [KICK, BAN, UNBAN, MUTE, UNMUTE, GIVE])
async def test_non_owner_moderation_is_forbidden_and_changes_nothing(
    connect: Connect, connect_user: ConnectUser, action: int
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    # A guest cannot be given a room at all, so GIVE_OWNERSHIP goes the other way.
    actor, target = (guest, member) if action == GIVE else (member, guest)
    error = await refused(actor, moderate=moderate(action, target))
    assert error.code == pb.ERROR_CODE_FORBIDDEN
    for player in (owner, target):
        assert kinds(await player.drain(0.1)) == []
    assert await actions_recorded() == []
    assert await in_thread(RoomBan.objects.count)() == 0


async def test_nobody_moderates_in_the_lobby_but_site_moderators(
    connect: Connect, connect_user: ConnectUser
) -> None:
    member = await connect_user()
    guest = await connect()
    await member.join()
    await guest.join()
    error = await refused(member, moderate=moderate(KICK, guest))
    assert error.code == pb.ERROR_CODE_FORBIDDEN
    moderator = await connect_user(role=User.Role.MODERATOR)
    await moderator.join()
    await moderator.send(moderate=moderate(KICK, guest))
    assert (await guest.expect("removed")).reason == pb.REMOVAL_REASON_KICKED


async def test_owner_cannot_moderate_a_site_moderator_or_themselves(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, _member, _guest = await room_with(connect, connect_user)
    moderator = await connect_user(role=User.Role.MODERATOR)
    await moderator.join("club")
    for target in (moderator, owner):
        error = await refused(owner, moderate=moderate(KICK, target))
        assert error.code == pb.ERROR_CODE_FORBIDDEN
    assert await actions_recorded() == []


async def test_moderate_outside_a_room_is_not_in_room(connect_user: ConnectUser) -> None:
    alice, bob = await connect_user(), await connect_user()
    error = await refused(alice, moderate=moderate(KICK, bob))
    assert error.code == pb.ERROR_CODE_NOT_IN_ROOM


# --- changes made elsewhere reach live sockets ----------------------------------


async def test_site_ban_removes_and_closes_the_live_socket_within_two_seconds(
    connect: Connect, connect_user: ConnectUser, make_user: Any
) -> None:
    _owner, member, guest = await room_with(connect, connect_user)
    admin = await in_thread(make_user)(role=User.Role.ADMIN)
    account = member.account
    assert account is not None
    headers = await in_thread(bearer_headers)(account)

    @in_thread
    def ban() -> None:
        user_services.site_ban(
            account,
            by=admin,
            duration=timedelta(hours=1),
            reason="abuse",
            source=ModerationAction.Source.ADMIN,
        )

    await ban()
    assert await member.expect_close(timeout=2) == 4403
    removals = [m.removed.reason for m in member.seen if m.HasField("removed")]
    assert removals == [pb.REMOVAL_REASON_SITE_BANNED]
    await member.ws.disconnect()
    assert (await guest.expect("member_left")).session_id == member.session_id
    # The access token is still unexpired, but the next handshake with it is refused.
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected


async def test_deactivating_an_account_closes_its_sockets_with_4401(
    connect_user: ConnectUser,
) -> None:
    member = await connect_user()
    other = await connect_user()
    await member.join()
    await other.join()
    assert member.account is not None

    @in_thread
    def deactivate() -> None:
        member.account.is_active = False  # type: ignore[union-attr]
        member.account.save()  # type: ignore[union-attr]

    await deactivate()
    assert await member.expect_close(timeout=2) == 4401
    assert "error" not in kinds(await other.drain(0.1))


async def test_logout_closes_only_the_sockets_of_that_session(
    connect: Connect, connect_user: ConnectUser, make_user: Any
) -> None:
    user = await in_thread(make_user)()
    browser = Client()
    await in_thread(browser.force_login)(user)
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    web = await connect(headers=[ORIGIN, (b"cookie", f"sessionid={cookie}".encode())])
    assert web.user is not None
    assert web.user.id == str(user.pk)
    bot = await connect_user(user)
    await in_thread(browser.logout)()
    assert await web.expect_close(timeout=2) == 4401
    await bot.send(time_sync=pb.TimeSync(client_time=1))
    assert (await bot.expect("time_sync")).client_time == 1


async def test_room_ban_of_a_guest_over_rest_removes_the_guest(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, _member, guest = await room_with(connect, connect_user)
    room = await in_thread(Room.objects.get)(name="club")
    assert owner.account is not None
    assert guest.user is not None
    body = {"guest_id": guest.user.id, "duration_seconds": 60}
    assert await rest_call(owner.account, "post", f"/api/v1/rooms/{room.pk}/bans", body) == 201
    removed = await guest.expect("removed", timeout=2)
    assert removed.reason == pb.REMOVAL_REASON_BANNED
    assert removed.until > 0
    error = await refused(guest, join_room=pb.JoinRoom(room_name="club"))
    assert error.code == pb.ERROR_CODE_BANNED


async def test_room_closed_over_rest_removes_everyone_and_leaves_the_list(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    watcher = await connect()
    await watcher.send(room_list=pb.SubscribeRoomList(subscribe=True))
    await watcher.expect("room_list")
    room = await in_thread(Room.objects.get)(name="club")
    assert owner.account is not None
    assert await rest_call(owner.account, "delete", f"/api/v1/rooms/{room.pk}") == 204
    for player in (owner, member, guest):
        assert (await player.expect("removed")).reason == pb.REMOVAL_REASON_ROOM_CLOSED
    removed_ids = [
        room_id
        for m in await watcher.drain(0.2)
        if m.HasField("room_list")
        for room_id in m.room_list.removed_room_ids
    ]
    assert str(room.pk) in removed_ids
    error = await refused(guest, chat=pb.ChatSend(text="anyone?"))
    assert error.code == pb.ERROR_CODE_NOT_IN_ROOM


async def test_rest_patch_by_the_owner_reaches_the_sockets(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, _member, guest = await room_with(connect, connect_user)
    room = await in_thread(Room.objects.get)(name="club")
    assert owner.account is not None
    body = {"settings": {"chat_enabled": False}}
    assert await rest_call(owner.account, "patch", f"/api/v1/rooms/{room.pk}", body) == 200
    assert (await guest.expect("room_updated")).room.settings.chat_enabled is False
    error = await refused(guest, chat=pb.ChatSend(text="hello"))
    assert error.code == pb.ERROR_CODE_CHAT_DISABLED


async def test_rest_patch_by_a_member_is_403_and_nothing_is_broadcast(
    connect: Connect, connect_user: ConnectUser
) -> None:
    """A room ban over REST reaches the live socket."""
    owner, member, guest = await room_with(connect, connect_user)
    room = await in_thread(Room.objects.get)(name="club")
    assert member.account is not None
    body = {"settings": {"chat_enabled": False, "max_members": 2}}
    assert await rest_call(member.account, "patch", f"/api/v1/rooms/{room.pk}", body) == 403
    path = f"/api/v1/rooms/{room.pk}/bans"
    assert await rest_call(member.account, "post", path, {"username": "x"}) == 403
    for player in (owner, guest):
        assert kinds(await player.drain(0.1)) == []
    await in_thread(room.refresh_from_db)()
    assert room.chat_enabled
    assert room.max_members == 20


@pytest.mark.parametrize(
    "fields",
    [
        {"duration_seconds": 4_294_967_295},
        {"reason": "r" * 256},
    ],
    ids=["ban-too-long", "reason-too-long"],
)
async def test_ban_with_out_of_range_fields_is_invalid_argument(
    connect: Connect, connect_user: ConnectUser, fields: dict[str, Any]
) -> None:
    owner, member, _guest = await room_with(connect, connect_user)
    error = await refused(owner, moderate=moderate(BAN, member, **fields))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert kinds(await member.drain(0.1)) == []
    assert await in_thread(RoomBan.objects.count)() == 0


async def test_unknown_moderation_action_is_invalid_argument(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner, member, _guest = await room_with(connect, connect_user)
    for action in (pb.MODERATION_ACTION_UNSPECIFIED, 99):
        error = await refused(owner, moderate=moderate(action, member))
        assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert await actions_recorded() == []


GARBAGE_TARGETS = [
    "²",
    "١٢",
    "9" * 5000,
    "99999999999999999999",
    "-1",
    " 1",
    "g-",
    "g-" + "x" * 100,
]


async def test_moderate_with_a_garbage_target_id_is_refused_without_an_error_log(
    connect: Connect, connect_user: ConnectUser, caplog: pytest.LogCaptureFixture
) -> None:
    owner, member, _guest = await room_with(connect, connect_user)
    for target in GARBAGE_TARGETS:
        for action in (KICK, BAN, UNBAN, MUTE, UNMUTE, GIVE):
            move = pb.Moderate(action=action, target_user_id=target)
            error = await refused(owner, moderate=move)
            assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT, (target[:20], action)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await actions_recorded() == []
    assert kinds(await member.drain(0.1)) == []


async def test_moderate_by_a_non_owner_is_forbidden_before_the_target_is_looked_at(
    connect: Connect, connect_user: ConnectUser, caplog: pytest.LogCaptureFixture
) -> None:
    _owner, member, _guest = await room_with(connect, connect_user)
    for target in GARBAGE_TARGETS:
        move = pb.Moderate(action=BAN, target_user_id=target)
        assert (await refused(member, moderate=move)).code == pb.ERROR_CODE_FORBIDDEN
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_moderator_banning_the_owner_over_the_socket_passes_the_crown(
    connect: Connect, connect_user: ConnectUser, caplog: pytest.LogCaptureFixture
) -> None:
    owner, member, guest = await room_with(connect, connect_user)
    moderator = await connect_user(role=User.Role.MODERATOR)
    await moderator.join("club")
    for player in (owner, member, guest):
        await player.drain(0.05)
    await moderator.send(moderate=moderate(BAN, owner))
    assert (await owner.expect("removed")).reason == pb.REMOVAL_REASON_BANNED
    # The longest-present registered member holds the crown now; everyone is told.
    assert member.user is not None
    crowned = await guest.expect("member_updated")
    while not crowned.member.is_owner:
        crowned = await guest.expect("member_updated")
    assert crowned.member.user.id == member.user.id
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
