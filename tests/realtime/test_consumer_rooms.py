"""Joining, leaving, the room list, room settings, profiles, cursors and time through the full
ASGI application (docs/protocol.md, Client messages)."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

from foundation.db import database_sync_to_async
from realtime import codec, handlers, lifecycle
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from rooms import services as room_services
from rooms.models import ChatMessage, Room, RoomBan
from rooms.passwords import hash_room_password
from tests.realtime.conftest import Connect, ConnectUser, Player

in_thread = database_sync_to_async


async def refused(player: Player, **message: object) -> pb.Error:
    """Send ``message`` and return the error it gets."""
    await player.send(**message)
    error: pb.Error = await player.expect("error")
    return error


def kinds(messages: list[pb.ServerMessage]) -> list[str]:
    return [m.WhichOneof("kind") or "" for m in messages]


@in_thread
def stored_room(name: str) -> Room | None:
    return Room.objects.filter(name__iexact=name).first()


@in_thread
def new_room(name: str, **fields: object) -> Room:
    password = fields.pop("password", "")
    return Room.objects.create(name=name, password_hash=hash_room_password(str(password)), **fields)


# --- join ------------------------------------------------------------------------------------


async def test_registered_player_creates_missing_room_with_settings(
    connect_user: ConnectUser,
) -> None:
    alice = await connect_user()
    settings = pb.RoomSettings(
        max_members=5, color="#123456", welcome_message="hi", persistent=True
    )
    state = await alice.join("Jazz Club", create_if_missing=True, settings=settings)
    assert state.room.name == "Jazz Club"
    assert state.room.settings.max_members == 5
    assert state.room.settings.color == "#123456"
    assert alice.user is not None
    assert alice.account is not None
    assert state.room.owner_user_id == alice.user.id
    assert [m.is_owner for m in state.members] == [True]
    room = await stored_room("jazz club")
    assert room is not None
    assert (room.owner_id, room.max_members, room.persistent) == (alice.account.pk, 5, True)


async def test_owner_gets_the_owner_note_quota_on_creating_a_room(
    connect_user: ConnectUser,
) -> None:
    alice = await connect_user()
    await alice.join("Quota", create_if_missing=True)
    quota = await alice.expect("note_quota")
    assert (quota.allowance, quota.max) == (600, 1800)


async def test_joining_a_missing_room_without_create_is_room_not_found(
    connect_user: ConnectUser,
) -> None:
    alice = await connect_user()
    error = await refused(alice, join_room=pb.JoinRoom(room_name="nowhere"))
    assert error.code == pb.ERROR_CODE_ROOM_NOT_FOUND
    assert error.request == "join_room"
    assert await stored_room("nowhere") is None


async def test_guests_cannot_create_rooms(connect: Connect) -> None:
    guest = await connect()
    error = await refused(guest, join_room=pb.JoinRoom(room_name="mine", create_if_missing=True))
    assert error.code == pb.ERROR_CODE_UNAUTHENTICATED
    assert await stored_room("mine") is None


async def test_creating_a_room_with_invalid_settings_is_invalid_argument(
    connect_user: ConnectUser,
) -> None:
    alice = await connect_user()
    settings = pb.RoomSettings(max_members=1000)
    error = await refused(
        alice, join_room=pb.JoinRoom(room_name="big", create_if_missing=True, settings=settings)
    )
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert await stored_room("big") is None


async def test_join_accepts_the_right_password_and_refuses_a_wrong_one(
    connect: Connect,
) -> None:
    await new_room("vault", password="open sesame")
    guest = await connect()
    error = await refused(guest, join_room=pb.JoinRoom(room_name="vault", password="guess"))
    assert error.code == pb.ERROR_CODE_WRONG_PASSWORD
    error = await refused(guest, join_room=pb.JoinRoom(room_name="vault"))
    assert error.code == pb.ERROR_CODE_WRONG_PASSWORD
    state = await guest.join("vault", password="open sesame")
    assert state.room.has_password


async def test_repeated_password_guesses_are_rate_limited(connect: Connect) -> None:
    await new_room("vault", password="open sesame")
    guest = await connect()
    for _ in range(5):
        error = await refused(guest, join_room=pb.JoinRoom(room_name="vault", password="no"))
        assert error.code == pb.ERROR_CODE_WRONG_PASSWORD
    error = await refused(guest, join_room=pb.JoinRoom(room_name="vault", password="open sesame"))
    assert error.code == pb.ERROR_CODE_RATE_LIMITED


async def test_full_room_refuses_the_next_joiner(connect: Connect) -> None:
    await new_room("duo", max_members=2)
    first, second, third = await connect(), await connect(), await connect()
    await first.join("duo")
    await second.join("duo")
    error = await refused(third, join_room=pb.JoinRoom(room_name="duo"))
    assert error.code == pb.ERROR_CODE_ROOM_FULL
    # The refused player is in no room, and the others heard nothing about them.
    assert (await refused(third, leave_room=pb.LeaveRoom())).code == pb.ERROR_CODE_NOT_IN_ROOM
    assert "member_joined" not in kinds(await second.drain(0.1))


async def test_guests_are_refused_where_guests_are_not_allowed(
    connect: Connect, connect_user: ConnectUser
) -> None:
    await new_room("members only", allow_guests=False)
    guest = await connect()
    error = await refused(guest, join_room=pb.JoinRoom(room_name="members only"))
    assert error.code == pb.ERROR_CODE_GUESTS_NOT_ALLOWED
    member = await connect_user()
    await member.join("members only")


async def test_room_name_is_matched_case_insensitively(connect: Connect) -> None:
    await new_room("Grand Hall")
    guest = await connect()
    state = await guest.join("gRAND hALL")
    assert state.room.name == "Grand Hall"


async def test_joining_another_room_leaves_the_first(connect: Connect) -> None:
    await new_room("one", persistent=True)
    await new_room("two", persistent=True)
    alice, bob = await connect(), await connect()
    await alice.join("one")
    await bob.join("one")
    await alice.expect("member_joined")
    await bob.join("two")
    left = await alice.expect("member_left")
    assert left.session_id == bob.session_id


async def test_lobby_overflows_into_lobby_2(connect: Connect) -> None:
    lobby = await in_thread(room_services.ensure_lobby)()
    assert lobby.max_members == 30
    players = [await connect() for _ in range(31)]
    for player in players[:30]:
        assert (await player.join("lobby")).room.name == "lobby"
    state = await players[30].join("lobby")
    assert state.room.name == "lobby-2"
    assert state.room.is_lobby
    assert state.room.owner_user_id == ""


async def test_room_state_carries_the_last_50_chat_lines(connect: Connect) -> None:
    room = await new_room("chatty", persistent=True)

    @in_thread
    def post_lines() -> None:
        ChatMessage.objects.bulk_create(
            ChatMessage(room=room, guest_id="g-1", display_name="old", text=f"line {n}")
            for n in range(55)
        )

    await post_lines()
    guest = await connect()
    state = await guest.join("chatty")
    assert [line.text for line in state.recent_chat] == [f"line {n}" for n in range(5, 55)]


# --- leave -----------------------------------------------------------------------------------


async def test_leave_tells_the_others(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    await alice.join()
    await bob.join()
    await alice.expect("member_joined")
    await bob.send(leave_room=pb.LeaveRoom())
    left = await alice.expect("member_left")
    assert left.session_id == bob.session_id
    # Out of the room, bob hears nothing more of it.
    await alice.send(chat=pb.ChatSend(text="still there?"))
    assert "chat" not in kinds(await bob.drain(0.2))


async def test_leave_outside_a_room_is_not_in_room(connect: Connect) -> None:
    guest = await connect()
    error = await refused(guest, leave_room=pb.LeaveRoom())
    assert error.code == pb.ERROR_CODE_NOT_IN_ROOM
    assert error.request == "leave_room"


async def test_closing_the_socket_leaves_the_room(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    await alice.join()
    await bob.join()
    await alice.expect("member_joined")
    await bob.close()
    left = await alice.expect("member_left")
    assert left.session_id == bob.session_id


# --- ownership and empty rooms ------------------------------------------------------------------


async def test_longest_present_registered_member_holds_the_crown_while_the_owner_is_away(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("heirs", create_if_missing=True)
    guest = await connect()
    await guest.join("heirs")
    elder, younger = await connect_user(), await connect_user()
    await elder.join("heirs")
    await younger.join("heirs")
    assert elder.user is not None
    assert owner.account is not None
    await owner.send(leave_room=pb.LeaveRoom())
    heard = await guest.drain(0.3)
    updates = [m.room_updated.room for m in heard if m.HasField("room_updated")]
    assert [room.owner_user_id for room in updates] == [elder.user.id]
    assert updates[0].room_owner_user_id == str(owner.account.pk)
    members = [m.member_updated.member for m in heard if m.HasField("member_updated")]
    assert [(m.session_id, m.is_owner) for m in members] == [(elder.session_id, True)]
    # The room still belongs to its owner.
    room = await stored_room("heirs")
    assert room is not None
    assert room.owner_id == owner.account.pk
    # The heir moderates the room, but its settings are the owner's.
    await younger.drain(0.1)
    await elder.send(update_room=pb.UpdateRoom(settings=pb.RoomSettings(color="#abcdef")))
    assert (await elder.expect("error")).code == pb.ERROR_CODE_FORBIDDEN
    assert younger.user is not None
    kick = pb.Moderate(action=pb.MODERATION_ACTION_KICK, target_user_id=younger.user.id)
    await elder.send(moderate=kick)
    assert (await younger.expect("removed")).reason == pb.REMOVAL_REASON_KICKED


async def test_a_guest_inherits_when_no_registered_member_is_left(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("guests", create_if_missing=True)
    first, second = await connect(), await connect()
    await first.join("guests")
    await second.join("guests")
    assert first.user is not None
    await owner.close()
    member = await second.expect("member_updated")
    assert member.member.user.id == first.user.id
    assert member.member.is_owner
    # The guest owner plays on the owner's note quota.
    quotas = [m.note_quota.max for m in await first.drain(0.2) if m.HasField("note_quota")]
    assert quotas[-1] == 1800


async def test_a_guest_heir_moderates_but_does_not_change_the_room(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("guest-run", create_if_missing=True)
    heir, other = await connect(), await connect()
    await heir.join("guest-run")
    await other.join("guest-run")
    await owner.close()
    await other.expect("member_updated")
    assert other.user is not None
    await heir.send(
        moderate=pb.Moderate(action=pb.MODERATION_ACTION_KICK, target_user_id=other.user.id)
    )
    removed = await other.expect("removed")
    assert removed.reason == pb.REMOVAL_REASON_KICKED
    await heir.send(update_room=pb.UpdateRoom(settings=pb.RoomSettings(chat_enabled=False)))
    assert (await heir.expect("error")).code == pb.ERROR_CODE_FORBIDDEN


async def test_empty_non_persistent_room_is_deleted_after_the_grace_period(
    connect: Connect, connect_user: ConnectUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "EMPTY_ROOM_GRACE_SECONDS", 0.05)
    watcher = await connect()
    await watcher.send(room_list=pb.SubscribeRoomList(subscribe=True))
    await watcher.expect("room_list")
    owner = await connect_user()
    state = await owner.join("fleeting", create_if_missing=True)
    await owner.send(leave_room=pb.LeaveRoom())
    async with asyncio.timeout(2):
        while True:
            listing = await watcher.expect("room_list")
            if state.room.id in listing.removed_room_ids:
                break
    assert await stored_room("fleeting") is None


async def test_persistent_and_reoccupied_rooms_are_not_deleted(
    connect: Connect, connect_user: ConnectUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "EMPTY_ROOM_GRACE_SECONDS", 0.1)
    await new_room("kept", persistent=True)
    owner = await connect_user()
    await owner.join("kept")
    await owner.join("back soon", create_if_missing=True)
    await owner.send(leave_room=pb.LeaveRoom())
    await owner.join("back soon")
    await owner.drain(0.3)
    assert await stored_room("kept") is not None
    assert await stored_room("back soon") is not None


# --- room list -------------------------------------------------------------------------------


async def test_room_list_sends_the_full_list_then_deltas(
    connect: Connect, connect_user: ConnectUser
) -> None:
    await in_thread(room_services.ensure_lobby)()
    await new_room("public one", persistent=True)
    await new_room("secret", is_public=False, persistent=True)
    watcher = await connect()
    await watcher.send(room_list=pb.SubscribeRoomList(subscribe=True))
    full = await watcher.expect("room_list")
    assert full.full
    assert sorted(r.name for r in full.rooms) == ["lobby", "public one"]
    # A join changes a count.
    guest = await connect()
    await guest.join("public one")
    delta = await watcher.expect("room_list")
    assert not delta.full
    assert [(r.name, r.member_count) for r in delta.rooms] == [("public one", 1)]
    # A new public room appears.
    owner = await connect_user()
    created = await owner.join("brand new", create_if_missing=True)
    delta = await watcher.expect("room_list")
    assert [(r.id, r.member_count) for r in delta.rooms] == [(created.room.id, 1)]
    # Leaving changes the count again.
    await guest.send(leave_room=pb.LeaveRoom())
    delta = await watcher.expect("room_list")
    assert [(r.name, r.member_count) for r in delta.rooms] == [("public one", 0)]
    # Private rooms never show up.
    await guest.join("secret")
    assert not any(r.name == "secret" for m in await watcher.drain(0.2) for r in m.room_list.rooms)


async def test_room_list_unsubscribe_stops_the_deltas(connect: Connect) -> None:
    await new_room("public one", persistent=True)
    watcher, guest = await connect(), await connect()
    await watcher.send(room_list=pb.SubscribeRoomList(subscribe=True))
    await watcher.expect("room_list")
    await watcher.send(room_list=pb.SubscribeRoomList(subscribe=False))
    await guest.join("public one")
    assert "room_list" not in kinds(await watcher.drain(0.2))


# --- update_room -----------------------------------------------------------------------------


async def test_owner_update_room_reaches_every_member(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("stage", create_if_missing=True)
    guest = await connect()
    await guest.join("stage")
    change = pb.RoomSettings(welcome_message="welcome!", max_members=10, password="pw")
    await owner.send(update_room=pb.UpdateRoom(settings=change))
    for player in (owner, guest):
        updated = await player.expect("room_updated")
        assert updated.room.settings.welcome_message == "welcome!"
        assert updated.room.settings.max_members == 10
        assert updated.room.has_password
        assert not updated.room.settings.HasField("password")
    room = await stored_room("stage")
    assert room is not None
    assert room.max_members == 10
    assert room.has_password


async def test_update_room_by_a_non_owner_is_forbidden_and_not_broadcast(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("stage", create_if_missing=True)
    member = await connect_user()
    await member.join("stage")
    await owner.expect("member_joined")
    change = pb.RoomSettings(chat_enabled=False)
    error = await refused(member, update_room=pb.UpdateRoom(settings=change))
    assert error.code == pb.ERROR_CODE_FORBIDDEN
    assert error.request == "update_room"
    assert "room_updated" not in kinds(await owner.drain(0.2))
    room = await stored_room("stage")
    assert room is not None
    assert room.chat_enabled


async def test_update_room_with_bad_or_no_settings_is_invalid_argument(
    connect_user: ConnectUser,
) -> None:
    owner = await connect_user()
    await owner.join("stage", create_if_missing=True)
    error = await refused(owner, update_room=pb.UpdateRoom(settings=pb.RoomSettings()))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    bad = pb.RoomSettings(color="red")
    error = await refused(owner, update_room=pb.UpdateRoom(settings=bad))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    # Each wrong field is named with its own message, for a form to show beside it.
    bad = pb.RoomSettings(color="red", max_members=500, chat_enabled=False)
    error = await refused(owner, update_room=pb.UpdateRoom(settings=bad))
    assert error.request == "update_room"
    assert {(f.field, f.message) for f in error.fields} == {
        ("color", "Use a colour like #1a2b3c."),
        ("max_members", "Must be between 2 and 100."),
    }
    assert "max_members: Must be between 2 and 100." in error.message
    # An error about no field in particular names none.
    error = await refused(owner, update_room=pb.UpdateRoom(settings=pb.RoomSettings()))
    assert not error.fields


async def test_update_room_outside_a_room_is_not_in_room(connect_user: ConnectUser) -> None:
    owner = await connect_user()
    change = pb.RoomSettings(chat_enabled=False)
    error = await refused(owner, update_room=pb.UpdateRoom(settings=change))
    assert error.code == pb.ERROR_CODE_NOT_IN_ROOM


async def test_unlimited_notes_setting_changes_members_quota(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("free", create_if_missing=True)
    guest = await connect()
    await guest.join("free")
    assert (await guest.expect("note_quota")).max == 1200
    await owner.send(update_room=pb.UpdateRoom(settings=pb.RoomSettings(unlimited_notes=True)))
    assert (await guest.expect("note_quota")).max == 0


# --- update_profile ----------------------------------------------------------------------------


async def test_update_profile_tells_the_room(connect: Connect, connect_user: ConnectUser) -> None:
    alice = await connect_user()
    bob = await connect()
    await alice.join()
    await bob.join()
    change = pb.UpdateProfile(display_name="Alice ♪", color="#FF0000")
    await alice.send(update_profile=change)
    for player in (alice, bob):
        updated = await player.expect("member_updated")
        assert updated.member.session_id == alice.session_id
        assert updated.member.user.display_name == "Alice ♪"
        assert updated.member.user.color == "#ff0000"
    assert alice.account is not None
    await in_thread(alice.account.refresh_from_db)()
    assert alice.account.display_name == "Alice ♪"


async def test_guest_profile_changes_live_only_in_the_session(connect: Connect) -> None:
    guest, other = await connect(), await connect()
    await guest.join()
    await other.join()
    await guest.send(update_profile=pb.UpdateProfile(display_name="Visitor"))
    updated = await other.expect("member_updated")
    assert updated.member.user.display_name == "Visitor"
    assert updated.member.user.is_guest


@pytest.mark.parametrize(
    "change",
    [
        pb.UpdateProfile(color="red"),
        pb.UpdateProfile(color="#12345"),
        pb.UpdateProfile(display_name="x" * 33),
        pb.UpdateProfile(),
    ],
    ids=["colour-name", "short-colour", "long-name", "nothing"],
)
async def test_update_profile_with_invalid_fields_is_invalid_argument(
    connect: Connect, connect_user: ConnectUser, change: pb.UpdateProfile
) -> None:
    alice = await connect_user()
    guest = await connect()
    await alice.join()
    await guest.join()
    for player in (alice, guest):
        error = await refused(player, update_profile=change)
        assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
        assert error.request == "update_profile"
    assert "member_updated" not in kinds(await guest.drain(0.1))


# --- cursor and time ---------------------------------------------------------------------------


async def test_cursor_is_relayed_clamped_and_not_echoed(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    await alice.join()
    await bob.join()
    await alice.send(cursor=pb.Cursor(x=150, y=-5))
    moved = await bob.expect("cursor")
    assert (moved.session_id, moved.x, moved.y) == (alice.session_id, 100.0, 0.0)
    await alice.send(cursor=pb.Cursor(x=12.5, y=99))
    moved = await bob.expect("cursor")
    assert (moved.x, moved.y) == (12.5, 99.0)
    assert "cursor" not in kinds(await alice.drain(0.1))


@pytest.mark.parametrize("x", [math.nan, math.inf, -math.inf])
async def test_non_finite_cursor_is_refused(connect: Connect, x: float) -> None:
    alice, bob = await connect(), await connect()
    await alice.join()
    await bob.join()
    error = await refused(alice, cursor=pb.Cursor(x=x, y=1))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert "cursor" not in kinds(await bob.drain(0.1))


async def test_cursor_outside_a_room_is_not_in_room(connect: Connect) -> None:
    guest = await connect()
    error = await refused(guest, cursor=pb.Cursor(x=1, y=1))
    assert error.code == pb.ERROR_CODE_NOT_IN_ROOM


async def test_time_sync_answers_with_the_server_clock(connect: Connect) -> None:
    guest = await connect()
    before = time.time() * 1000
    await guest.send(time_sync=pb.TimeSync(client_time=1234.5))
    reply = await guest.expect("time_sync")
    assert reply.client_time == 1234.5
    assert before <= reply.server_time <= time.time() * 1000


async def test_time_sync_with_a_non_finite_client_time_still_answers(connect: Connect) -> None:
    guest = await connect()
    await guest.send(time_sync=pb.TimeSync(client_time=math.nan))
    reply = await guest.expect("time_sync")
    assert reply.client_time == 0.0


async def test_empty_overflow_lobby_is_deleted_but_the_main_lobby_stays(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "EMPTY_ROOM_GRACE_SECONDS", 0.05)
    lobby = await in_thread(room_services.ensure_lobby)()
    lobby.max_members = 2  # the Room row's capacity, to overflow without 31 sockets
    await in_thread(lobby.save)()
    first, second, third = await connect(), await connect(), await connect()
    await first.join()
    await second.join()
    assert (await third.join()).room.name == "lobby-2"
    await third.send(leave_room=pb.LeaveRoom())
    for player in (first, second):
        await player.send(leave_room=pb.LeaveRoom())
    await first.drain(0.3)
    assert await stored_room("lobby-2") is None
    assert await stored_room("lobby") is not None


async def test_concurrent_joins_never_overfill_a_room(connect: Connect) -> None:
    await new_room("tiny", max_members=5, persistent=True)
    players = [await connect() for _ in range(12)]
    for player in players:
        await player.send(join_room=pb.JoinRoom(room_name="tiny"))
    outcomes = []
    for player in players:
        message = await player.receive()
        while message.WhichOneof("kind") not in ("room_state", "error"):
            message = await player.receive()
        outcomes.append(message.error.code if message.HasField("error") else "in")
    assert outcomes.count("in") == 5
    assert outcomes.count(pb.ERROR_CODE_ROOM_FULL) == 7


async def test_owner_and_site_moderators_need_no_password(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    settings = pb.RoomSettings(password="hunter22", persistent=True)
    await owner.join("locked", create_if_missing=True, settings=settings)
    await owner.send(leave_room=pb.LeaveRoom())
    assert (await owner.join("locked")).room.has_password
    moderator = await connect_user(role="MODERATOR")
    await moderator.join("locked")
    guest = await connect()
    error = await refused(guest, join_room=pb.JoinRoom(room_name="locked"))
    assert error.code == pb.ERROR_CODE_WRONG_PASSWORD


async def test_site_moderator_may_update_any_room_and_it_is_recorded(
    connect_user: ConnectUser,
) -> None:
    owner = await connect_user()
    await owner.join("theirs", create_if_missing=True)
    moderator = await connect_user(role="MODERATOR")
    await moderator.join("theirs")
    change = pb.RoomSettings(welcome_message="be kind")
    await moderator.send(update_room=pb.UpdateRoom(settings=change))
    assert (await owner.expect("room_updated")).room.settings.welcome_message == "be kind"

    @in_thread
    def recorded() -> list[str]:
        from moderation.models import ModerationAction

        return list(ModerationAction.objects.values_list("action", flat=True))

    assert await recorded() == ["UPDATE_ROOM"]


async def test_cursor_flood_is_relayed_at_most_once_per_interval_and_ends_where_it_stopped(
    connect: Connect,
) -> None:
    alice, bob = await connect(), await connect()
    await alice.join()
    await bob.join()
    await bob.drain(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(60):
        await alice.send(cursor=pb.Cursor(x=n, y=n / 2))
    elapsed = loop.time() - started
    moves = [m.cursor for m in await bob.drain(0.3) if m.WhichOneof("kind") == "cursor"]
    # One at once, then at most one per CURSOR_MIN_INTERVAL, the last one delivered late.
    assert 1 <= len(moves) <= 2 + (elapsed + 0.3) / handlers.CURSOR_MIN_INTERVAL
    assert len(moves) < 60
    assert (moves[0].x, moves[-1].x, moves[-1].y) == (0.0, 59.0, 29.5)


async def test_players_crowding_into_the_lobby_at_once_overflow_instead_of_being_refused(
    connect: Connect,
) -> None:
    await in_thread(room_services.ensure_lobby)()
    players = [await connect() for _ in range(65)]
    states = await asyncio.gather(*(player.join("lobby") for player in players))
    names = sorted(state.room.name for state in states)
    assert names.count("lobby") == 30
    assert names.count("lobby-2") == 30
    assert names.count("lobby-3") == 5


# --- bounds (hardening 9) --------------------------------------------------------------------


@in_thread
def many_rooms(count: int, prefix: str = "room") -> None:
    from rooms.rules import NAME_MAX_LENGTH

    Room.objects.bulk_create(
        Room(name=f"{prefix} {n:04} ".ljust(NAME_MAX_LENGTH, "\U0001f3b9")) for n in range(count)
    )


async def test_room_list_holds_the_main_lobby_and_the_busiest_rooms_only(
    connect: Connect, settings: Any
) -> None:
    settings.ROOM_LIST_LIMIT = 20
    await in_thread(room_services.ensure_lobby)()
    await many_rooms(150)
    busy = await new_room("busy one", persistent=True)
    players = [await connect() for _ in range(3)]
    for player in players:
        await player.join(busy.name)
    watcher = await connect(encoding=codec.Encoding.JSON)
    await watcher.send(room_list=pb.SubscribeRoomList(subscribe=True))
    full = await watcher.expect("room_list")
    assert full.full
    assert full.truncated
    names = [r.name for r in full.rooms]
    assert len(names) == 20
    assert names[:2] == ["lobby", "busy one"]
    # A search finds a room beyond the list, and says when it holds them all.
    await watcher.send(room_list=pb.SubscribeRoomList(subscribe=True, query="ROOM 0142"))
    found = await watcher.expect("room_list")
    assert [r.name[:9] for r in found.rooms] == ["room 0142"]
    assert not found.truncated


async def test_room_list_of_a_thousand_wide_rooms_fits_in_one_frame(connect: Connect) -> None:
    await in_thread(room_services.ensure_lobby)()
    await many_rooms(1000)
    for encoding in codec.Encoding:
        watcher = await connect(encoding=encoding)
        await watcher.send(room_list=pb.SubscribeRoomList(subscribe=True))
        output = await watcher.ws.receive_output(5)
        frame = output.get("bytes") or output["text"].encode()
        assert len(frame) <= 65536
        full = watcher._decode(output)[0].room_list
        assert full.full
        assert full.truncated
        assert len(full.rooms) == 100


async def test_room_list_search_longer_than_a_room_name_is_invalid(connect: Connect) -> None:
    watcher = await connect()
    error = await refused(watcher, room_list=pb.SubscribeRoomList(subscribe=True, query="x" * 65))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT


async def test_creating_rooms_from_the_socket_stops_at_the_account_limit(
    connect_user: ConnectUser, settings: Any
) -> None:
    settings.MAX_ROOMS_PER_ACCOUNT = 2
    owner = await connect_user()
    for n in range(2):
        await owner.join(f"mine {n}", create_if_missing=True)
    error = await refused(owner, join_room=pb.JoinRoom(room_name="third", create_if_missing=True))
    assert error.code == pb.ERROR_CODE_FORBIDDEN
    assert "close one" in error.message
    assert await in_thread(Room.objects.filter(name="third").exists)() is False


# --- ownership while the owner reloads (hardening 8) -------------------------------------------


async def test_a_guest_cannot_take_over_a_room_while_its_owner_reloads(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("my place", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    assert owner.account is not None
    assert owner.user is not None
    guest = await connect()
    await guest.join("my place")
    # The owner reloads the page: the socket goes, a new one comes a moment later.
    await owner.close()
    crowned = await guest.expect("member_updated")
    assert crowned.member.is_owner  # the guest holds the crown meanwhile
    # The heir tries what the review's attacker did: ban the owner, lock the room.
    ban = pb.Moderate(action=pb.MODERATION_ACTION_BAN, target_user_id=owner.user.id)
    await guest.send(moderate=ban)
    assert (await guest.expect("error")).code == pb.ERROR_CODE_FORBIDDEN
    await guest.send(update_room=pb.UpdateRoom(settings=pb.RoomSettings(password="mine")))
    assert (await guest.expect("error")).code == pb.ERROR_CODE_FORBIDDEN
    room = await stored_room("my place")
    assert room is not None
    assert room.owner_id == owner.account.pk
    assert not room.has_password
    # The owner is back and takes the crown back.
    back = await connect_user(owner.account)
    state = await back.join("my place")
    assert state.room.owner_user_id == owner.user.id
    assert state.room.room_owner_user_id == owner.user.id
    assert [m.is_owner for m in state.members if m.session_id == back.session_id] == [True]
    demoted = await guest.expect("member_updated")
    assert (demoted.member.session_id, demoted.member.is_owner) == (guest.session_id, False)
    await guest.drain(0.1)
    await back.send(update_room=pb.UpdateRoom(settings=pb.RoomSettings(color="#123456")))
    assert (await guest.expect("room_updated")).room.settings.color == "#123456"


async def test_a_room_given_away_changes_owner_and_crown(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await connect_user()
    await owner.join("gift", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    friend = await connect_user()
    await friend.join("gift")
    assert friend.user is not None
    assert friend.account is not None
    give = pb.Moderate(action=pb.MODERATION_ACTION_GIVE_OWNERSHIP, target_user_id=friend.user.id)
    await owner.send(moderate=give)
    updated = await friend.expect("room_updated")
    while updated.room.owner_user_id != friend.user.id:
        updated = await friend.expect("room_updated")
    assert updated.room.room_owner_user_id == friend.user.id
    room = await stored_room("gift")
    assert room is not None
    assert room.owner_id == friend.account.pk
    # The former owner is an ordinary member now.
    await owner.drain(0.1)
    await owner.send(update_room=pb.UpdateRoom(settings=pb.RoomSettings(color="#654321")))
    assert (await owner.expect("error")).code == pb.ERROR_CODE_FORBIDDEN


# --- names that pass for others, and roles beside names (hardening 17) --------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Moderator",
        "\u041c\u043ed\u0435r\u0430t\u043er",
        "\u3164",
        "\u2800",
        "Guest-1a2b",
        "Guest\u25001a2b",  # box drawings light horizontal
        "Guest\u30fc1a2b",  # the katakana prolonged sound mark
        "Guest\u4e001a2b",  # the ideograph one
        "Guest+1a2b",
    ],
)
async def test_a_guest_cannot_take_a_reserved_or_blank_name(connect: Connect, name: str) -> None:
    guest = await connect()
    await guest.join()
    error = await refused(guest, update_profile=pb.UpdateProfile(display_name=name))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT


async def test_nobody_on_a_socket_can_take_a_look_alike_of_an_accounts_username(
    connect: Connect, connect_user: ConnectUser, make_user: Any
) -> None:
    await in_thread(make_user)("alice")
    guest = await connect()
    member = await connect_user()
    for player in (guest, member):
        await player.join()
        error = await refused(player, update_profile=pb.UpdateProfile(display_name="\u0430lice"))
        assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
        assert "looks like another player" in error.message


async def test_symbols_do_not_disguise_an_accounts_username_on_a_socket(
    connect_user: ConnectUser, make_user: Any
) -> None:
    await in_thread(make_user)("bobsmithexv")
    member = await connect_user()
    await member.join()
    for name in ("bobsmithexv\u2122", "bob\u2219smithexv", "bob+smithexv"):
        error = await refused(member, update_profile=pb.UpdateProfile(display_name=name))
        assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT, name
        assert "looks like another player" in error.message


@pytest.mark.parametrize("name", ["lobby\u25002", "lobby\u30fc2", "lobby\u2122", "lobby \u2713"])
async def test_a_room_made_on_a_socket_cannot_pass_for_a_lobby(
    connect_user: ConnectUser, name: str
) -> None:
    alice = await connect_user()
    error = await refused(alice, join_room=pb.JoinRoom(room_name=name, create_if_missing=True))
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert "reserved for lobbies" in error.message
    assert await stored_room(name) is None


async def test_chat_lines_say_who_is_a_guest_and_who_is_staff(
    connect: Connect, connect_user: ConnectUser
) -> None:
    guest = await connect()
    moderator = await connect_user(role="MODERATOR")
    member = await connect_user()
    for player in (guest, moderator, member):
        await player.join()
    for player in (guest, moderator, member):
        await player.send(chat=pb.ChatSend(text="hi"))
        assert player.user is not None
    lines = [m.chat for m in await member.drain(0.3) if m.HasField("chat")]
    roles = {line.user_id: line.role for line in lines}
    assert guest.user is not None
    assert moderator.user is not None
    assert member.user is not None
    assert roles[guest.user.id] == pb.ROLE_GUEST
    assert roles[moderator.user.id] == pb.ROLE_MODERATOR
    assert roles[member.user.id] == pb.ROLE_MEMBER
    # And in the history a later joiner gets.
    late = await connect()
    state = await late.join()
    assert {line.user_id: line.role for line in state.recent_chat} == roles


async def test_a_guest_holding_the_crown_cannot_ban_accounts_from_someone_elses_room(
    connect: Connect, connect_user: ConnectUser, make_user: Any
) -> None:
    owner = await connect_user()
    await owner.join("empty", create_if_missing=True, settings=pb.RoomSettings(persistent=True))
    await owner.close()
    absent = [await in_thread(make_user)() for _ in range(3)]
    squatter = await connect()
    state = await squatter.join("empty")  # nobody there: the guest holds the crown
    assert squatter.user is not None
    assert state.room.owner_user_id == squatter.user.id
    for account in absent:  # accounts who are not even in the room
        ban = pb.Moderate(action=pb.MODERATION_ACTION_BAN, target_user_id=str(account.pk))
        error = await refused(squatter, moderate=ban)
        assert error.code == pb.ERROR_CODE_FORBIDDEN
        assert "in the room" in error.message
    visitor = await connect_user()
    await visitor.join("empty")
    assert visitor.user is not None
    forever = pb.Moderate(action=pb.MODERATION_ACTION_BAN, target_user_id=visitor.user.id)
    assert (await refused(squatter, moderate=forever)).code == pb.ERROR_CODE_FORBIDDEN
    # Keeping order in the room meanwhile is allowed: a short ban of a player who is there.
    brief = pb.Moderate(
        action=pb.MODERATION_ACTION_BAN, target_user_id=visitor.user.id, duration_seconds=600
    )
    await squatter.send(moderate=brief)
    assert (await visitor.expect("removed")).reason == pb.REMOVAL_REASON_BANNED
    assert await in_thread(RoomBan.objects.count)() == 1
