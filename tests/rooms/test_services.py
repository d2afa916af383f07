"""Room services against the database."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import hashers
from django.utils import timezone

from foundation.exceptions import InvalidArgumentError, RateLimitedError
from moderation.models import ModerationAction
from rooms import rules, services, signals
from rooms.exceptions import (
    BannedError,
    BanNotFoundError,
    ChatDisabledError,
    GuestsNotAllowedError,
    InvalidChatMessageError,
    InvalidRoomSettingsError,
    LobbyProtectedError,
    MutedError,
    RoomForbiddenError,
    RoomFullError,
    RoomNameTakenError,
    RoomNotFoundError,
    WrongPasswordError,
)
from rooms.models import ChatMessage, Room, RoomBan, RoomMute
from rooms.passwords import MAX_WRONG_GUESSES
from users.models import User

pytestmark = pytest.mark.django_db
API = ModerationAction.Source.API
WS = ModerationAction.Source.WEBSOCKET
Action = ModerationAction.Action


def _actions(action: str) -> list[ModerationAction]:
    return list(ModerationAction.objects.filter(action=action))


# --- Create ----------------------------------------------------------------------------------


def test_create_room_makes_the_creator_owner(owner: User) -> None:
    room = services.create_room(
        owner, {"name": "Jazz", "max_members": 8, "is_public": False, "password": "open sesame"}
    )
    room.refresh_from_db()
    assert room.owner == owner
    assert (room.max_members, room.is_public, room.is_lobby) == (8, False, False)
    assert room.password_hash.startswith("argon2")
    assert "open sesame" not in room.password_hash


def test_create_room_refuses_a_name_taken_in_another_case(owner: User, room: Room) -> None:
    with pytest.raises(RoomNameTakenError) as caught:
        services.create_room(owner, {"name": "JAZZ CLUB"})
    assert caught.value.code == "ROOM_NAME_TAKEN"
    assert Room.objects.filter(name__iexact="jazz club").count() == 1


def test_create_room_refuses_lobby_names(owner: User) -> None:
    with pytest.raises(InvalidRoomSettingsError) as caught:
        services.create_room(owner, {"name": "Lobby-2"})
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "name" in caught.value.fields


def test_create_room_needs_a_name_and_valid_settings(owner: User) -> None:
    with pytest.raises(InvalidRoomSettingsError) as caught:
        services.create_room(owner, {"max_members": 5})
    assert "name" in caught.value.fields
    with pytest.raises(InvalidRoomSettingsError) as caught:
        services.create_room(owner, {"name": "ok", "max_members": 500, "color": "red"})
    assert set(caught.value.fields) == {"max_members", "color"}
    assert not Room.objects.filter(name="ok").exists()


def test_site_banned_user_cannot_create_rooms(make_user: Callable[..., User]) -> None:
    banned = make_user(banned_until=timezone.now() + timedelta(days=1))
    with pytest.raises(BannedError):
        services.create_room(banned, {"name": "nope"})


# --- Update ----------------------------------------------------------------------------------


def test_owner_updates_room_without_an_audit_entry(owner: User, room: Room) -> None:
    services.update_room(owner, room, {"welcome_message": "Hi!", "color": "#ABCDEF"}, API)
    room.refresh_from_db()
    assert (room.welcome_message, room.color) == ("Hi!", "#abcdef")
    assert not ModerationAction.objects.exists()


def test_update_by_non_owner_is_forbidden_and_changes_nothing(
    make_user: Callable[..., User], room: Room
) -> None:
    with pytest.raises(RoomForbiddenError) as caught:
        services.update_room(make_user(), room, {"name": "Mine now", "max_members": 3}, API)
    assert caught.value.code == "FORBIDDEN"
    room.refresh_from_db()
    assert (room.name, room.max_members) == ("Jazz Club", 20)
    assert not ModerationAction.objects.exists()


def test_moderator_update_is_recorded(moderator: User, room: Room) -> None:
    services.update_room(moderator, room, {"is_public": False, "password": "x"}, API)
    room.refresh_from_db()
    assert not room.is_public
    (entry,) = _actions(Action.UPDATE_ROOM)
    assert (entry.actor, entry.actor_name, entry.room, entry.room_name) == (
        moderator,
        "mod",
        room,
        "Jazz Club",
    )
    assert entry.source == API
    assert "is_public" in entry.reason
    assert "password" in entry.reason
    assert "x" not in entry.reason.replace("Changed", "")


def test_update_password_empty_clears_it(owner: User, room: Room) -> None:
    services.update_room(owner, room, {"password": "secret"}, API)
    assert Room.objects.get(pk=room.pk).has_password
    services.update_room(owner, room, {"password": ""}, API)
    assert not Room.objects.get(pk=room.pk).has_password


def test_rename_to_another_case_of_itself_is_allowed_but_not_to_a_taken_name(
    owner: User, room: Room, make_room: Callable[..., Room]
) -> None:
    services.update_room(owner, room, {"name": "JAZZ CLUB"}, API)
    assert Room.objects.get(pk=room.pk).name == "JAZZ CLUB"
    make_room("Blues")
    with pytest.raises(RoomNameTakenError):
        services.update_room(owner, room, {"name": "blues"}, API)
    assert Room.objects.get(pk=room.pk).name == "JAZZ CLUB"


def test_lobby_settings_stay_within_lobby_rules(moderator: User) -> None:
    lobby = services.ensure_lobby()
    with pytest.raises(InvalidRoomSettingsError):
        services.update_room(moderator, lobby, {"max_members": 50}, API)
    services.update_room(moderator, lobby, {"welcome_message": "Welcome!"}, API)
    assert Room.objects.get(pk=lobby.pk).welcome_message == "Welcome!"


def test_update_announces_after_commit(
    owner: User, room: Room, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        seen.append(kwargs)

    signals.room_updated.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.update_room(owner, room, {"chat_enabled": False}, API)
    finally:
        signals.room_updated.disconnect(receiver)
    assert seen[0]["changed"] == frozenset({"chat_enabled"})


# --- Close -----------------------------------------------------------------------------------


def test_close_room_records_then_deletes(owner: User, room: Room) -> None:
    room_id = room.pk
    services.close_room(owner, room, API, "done for today")
    assert not Room.objects.filter(pk=room_id).exists()
    (entry,) = _actions(Action.CLOSE_ROOM)
    assert (entry.room, entry.room_name, entry.reason) == (None, "Jazz Club", "done for today")


def test_close_room_by_outsider_is_forbidden(make_user: Callable[..., User], room: Room) -> None:
    with pytest.raises(RoomForbiddenError):
        services.close_room(make_user(), room, API)
    assert Room.objects.filter(pk=room.pk).exists()


def test_lobby_cannot_be_closed(moderator: User) -> None:
    lobby = services.ensure_lobby()
    with pytest.raises(LobbyProtectedError):
        services.close_room(moderator, lobby, API)
    assert Room.objects.filter(pk=lobby.pk).exists()
    assert not ModerationAction.objects.exists()


# --- Visibility ------------------------------------------------------------------------------


def test_private_room_is_not_found_for_outsiders(
    make_user: Callable[..., User], owner: User, moderator: User, room: Room
) -> None:
    room.is_public = False
    room.save()
    with pytest.raises(RoomNotFoundError):
        services.get_visible_room(make_user(), room.pk)
    assert services.get_visible_room(owner, room.pk) == room
    assert services.get_visible_room(moderator, room.pk) == room


def test_get_room_with_a_bad_id_is_not_found() -> None:
    with pytest.raises(RoomNotFoundError):
        services.get_room("not-a-uuid")


def test_find_room_ignores_case(room: Room) -> None:
    assert services.find_room("jazz CLUB") == room
    with pytest.raises(RoomNotFoundError):
        services.find_room("nowhere")


# --- Bans ------------------------------------------------------------------------------------


def test_ban_with_expiry_is_in_force_then_lifted(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    target = make_user("troll")
    ban = services.ban_from_room(
        owner, room, target_user=target, duration_seconds=600, reason="spam", source=API
    )
    assert ban.expires_at is not None
    assert timedelta(seconds=590) < ban.expires_at - timezone.now() <= timedelta(seconds=600)
    with pytest.raises(BannedError) as caught:
        services.check_not_banned(room, user_id=target.pk)
    assert caught.value.until == ban.expires_at

    services.unban_from_room(owner, room, target_user=target, source=API)
    services.check_not_banned(room, user_id=target.pk)
    assert [a.action for a in ModerationAction.objects.order_by("id")] == ["BAN", "UNBAN"]
    entry = ModerationAction.objects.get(action=Action.BAN)
    assert (entry.target_user, entry.target_name, entry.reason) == (target, "troll", "spam")
    assert entry.expires_at == ban.expires_at


def test_expired_ban_is_ignored(room: Room, make_user: Callable[..., User]) -> None:
    target = make_user()
    RoomBan.objects.create(room=room, user=target, expires_at=timezone.now() - timedelta(seconds=1))
    services.check_not_banned(room, user_id=target.pk)
    assert not services.active_bans(room).exists()
    services.check_can_join(target, room)


def test_permanent_guest_ban_stops_the_guest_only(owner: User, room: Room) -> None:
    services.ban_from_room(owner, room, guest_id="g-42", guest_name="Guest-42", source=WS)
    with pytest.raises(BannedError) as caught:
        services.check_can_join(services.guest_actor("g-42"), room)
    assert caught.value.until is None
    services.check_can_join(services.guest_actor("g-43"), room)
    assert ModerationAction.objects.get().target_name == "Guest-42"


def test_banning_again_replaces_the_ban(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    target = make_user()
    services.ban_from_room(owner, room, target_user=target, duration_seconds=60, source=API)
    services.ban_from_room(owner, room, target_user=target, reason="again", source=API)
    ban = RoomBan.objects.get()
    assert (ban.expires_at, ban.reason) == (None, "again")


def test_member_cannot_ban(room: Room, make_user: Callable[..., User]) -> None:
    with pytest.raises(RoomForbiddenError):
        services.ban_from_room(make_user(), room, target_user=make_user(), source=API)
    assert not RoomBan.objects.exists()


def test_owner_cannot_ban_a_site_moderator_or_themselves(
    owner: User, room: Room, moderator: User
) -> None:
    with pytest.raises(RoomForbiddenError):
        services.ban_from_room(owner, room, target_user=moderator, source=API)
    with pytest.raises(RoomForbiddenError):
        services.ban_from_room(owner, room, target_user=owner, source=API)
    assert not RoomBan.objects.exists()


@pytest.mark.parametrize("duration", [0, -1, services.MAX_BAN_SECONDS + 1])
def test_ban_duration_must_be_sensible(
    owner: User, room: Room, make_user: Callable[..., User], duration: int
) -> None:
    with pytest.raises(InvalidArgumentError):
        services.ban_from_room(
            owner, room, target_user=make_user(), duration_seconds=duration, source=API
        )


def test_ban_needs_exactly_one_subject(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    with pytest.raises(InvalidArgumentError):
        services.ban_from_room(owner, room, source=API)
    with pytest.raises(InvalidArgumentError):
        services.ban_from_room(owner, room, target_user=make_user(), guest_id="g", source=API)


def test_unban_of_someone_not_banned_is_not_found(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    target = make_user()
    RoomBan.objects.create(room=room, user=target, expires_at=timezone.now() - timedelta(1))
    with pytest.raises(BanNotFoundError):
        services.unban_from_room(owner, room, target_user=target, source=API)
    assert not RoomBan.objects.exists()  # the expired leftover is cleaned up
    assert not ModerationAction.objects.exists()


def test_ban_reason_is_limited(owner: User, room: Room, make_user: Callable[..., User]) -> None:
    with pytest.raises(InvalidArgumentError):
        services.ban_from_room(owner, room, target_user=make_user(), reason="r" * 256, source=API)


# --- Joining and passwords -------------------------------------------------------------------


def test_room_password_is_checked(owner: User, room: Room, make_user: Callable[..., User]) -> None:
    services.update_room(owner, room, {"password": "correct horse"}, API)
    player = make_user()
    with pytest.raises(WrongPasswordError) as caught:
        services.check_can_join(player, room, password="wrong")
    assert caught.value.code == "WRONG_PASSWORD"
    with pytest.raises(WrongPasswordError):
        services.check_can_join(player, room)
    services.check_can_join(player, room, password="correct horse")
    services.check_can_join(owner, room)  # owners need no password


def test_password_guesses_are_rate_limited_per_identity(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    services.update_room(owner, room, {"password": "correct horse"}, API)
    guesser, other = make_user(), make_user()
    for _ in range(MAX_WRONG_GUESSES):
        with pytest.raises(WrongPasswordError):
            services.check_can_join(guesser, room, password="guess")
    with pytest.raises(RateLimitedError) as caught:
        services.check_can_join(guesser, room, password="correct horse")
    assert caught.value.code == "RATE_LIMITED"
    # Someone else is not punished for the guesser.
    services.check_can_join(other, room, password="correct horse")


def test_accounts_sharing_an_address_do_not_lock_each_other_out(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    services.update_room(owner, room, {"password": "correct horse"}, API)
    # One campus, one address: a guesser there must not lock out the others.
    guesser, classmate = (
        rules.Actor(user_id=make_user().pk, name="x", address_key="campus") for _ in range(2)
    )
    for _ in range(MAX_WRONG_GUESSES + 2):
        with pytest.raises((WrongPasswordError, RateLimitedError)):
            services.check_can_join(guesser, room, password="guess")
    services.check_can_join(classmate, room, password="correct horse")
    # Guests there do share one budget, however many guest ids they go through.
    for n in range(MAX_WRONG_GUESSES):
        with pytest.raises(WrongPasswordError):
            services.check_can_join(_guest(f"g-{n}", "campus"), room, password="guess")
    with pytest.raises(RateLimitedError):
        services.check_can_join(_guest("g-new", "campus"), room, password="correct horse")


def _guest(guest_id: str, address_key: str) -> rules.Actor:
    return rules.Actor(
        user_id=None, role=rules.Role.GUEST, guest_id=guest_id, address_key=address_key
    )


@pytest.mark.django_db(transaction=True)
def test_guesses_sent_at_once_are_checked_no_more_than_the_limit(
    owner: User, room: Room, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from rooms import passwords

    services.update_room(owner, room, {"password": "correct horse"}, API)
    room.refresh_from_db()
    real_check = hashers.check_password
    checked: list[str] = []

    def slow_check(raw: str, encoded: str) -> bool:
        checked.append(raw)
        time.sleep(0.05)  # as long as a real Argon2 check: every guess is in flight at once
        return bool(real_check(raw, encoded))

    monkeypatch.setattr(passwords, "check_password", slow_check)
    guesser = make_user()

    def guess(n: int) -> str:
        try:
            services.check_can_join(guesser, room, password=f"guess {n}")
        except (WrongPasswordError, RateLimitedError) as exc:
            return str(exc.code)
        finally:
            connections.close_all()
        return "IN"

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(guess, range(32)))
    assert len(checked) == MAX_WRONG_GUESSES
    assert codes.count("WRONG_PASSWORD") == MAX_WRONG_GUESSES
    assert codes.count("RATE_LIMITED") == 32 - MAX_WRONG_GUESSES


def test_a_right_password_does_not_spend_the_budget(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    services.update_room(owner, room, {"password": "correct horse"}, API)
    player = make_user()
    for _ in range(MAX_WRONG_GUESSES * 2):  # rejoining often, with the right password
        services.check_can_join(player, room, password="correct horse")
    for _ in range(MAX_WRONG_GUESSES - 1):
        with pytest.raises(WrongPasswordError):
            services.check_can_join(player, room, password="typo")
    services.check_can_join(player, room, password="correct horse")


def test_join_refuses_guests_where_not_allowed_and_full_rooms(owner: User, room: Room) -> None:
    services.update_room(owner, room, {"allow_guests": False, "max_members": 2}, API)
    with pytest.raises(GuestsNotAllowedError):
        services.check_can_join(services.guest_actor("g-1"), room)
    with pytest.raises(RoomFullError):
        services.check_can_join(owner, room, member_count=2)
    services.check_can_join(owner, room, member_count=1)


# --- Chat ------------------------------------------------------------------------------------


def test_chat_message_is_stored_as_data(owner: User, room: Room) -> None:
    message = services.post_chat_message(room, owner, "  <script>alert(1)</script>  ")
    assert message.text == "<script>alert(1)</script>"
    assert (message.user, message.display_name) == (owner, "owner")


def test_guest_chat_keeps_guest_id(room: Room) -> None:
    message = services.post_chat_message(room, services.guest_actor("g-7", "Guest-7"), "hi")
    assert (message.user, message.guest_id, message.display_name) == (None, "g-7", "Guest-7")


@pytest.mark.parametrize("text", ["", "x" * 501, "a\u202eb", "bell\x07"])
def test_invalid_chat_is_refused(owner: User, room: Room, text: str) -> None:
    with pytest.raises(InvalidChatMessageError):
        services.post_chat_message(room, owner, text)
    assert not ChatMessage.objects.exists()


def test_chat_rules_of_the_room(owner: User, room: Room, make_user: Callable[..., User]) -> None:
    member = make_user()
    with pytest.raises(MutedError):
        services.post_chat_message(room, member, "hi", muted=True)
    room.chat_enabled = False
    room.save()
    with pytest.raises(ChatDisabledError):
        services.post_chat_message(room, member, "hi")
    services.post_chat_message(room, owner, "announcement")
    room.chat_enabled, room.only_owner_can_chat = True, True
    room.save()
    with pytest.raises(RoomForbiddenError):
        services.post_chat_message(room, member, "hi")
    assert ChatMessage.objects.count() == 1


def test_recent_messages_are_the_last_ones_oldest_first(owner: User, room: Room) -> None:
    for i in range(60):
        services.post_chat_message(room, owner, f"m{i}")
    recent = services.recent_messages(room)
    assert [m.text for m in recent] == [f"m{i}" for i in range(10, 60)]
    assert [m.text for m in services.recent_messages(room, limit=2)] == ["m58", "m59"]


def test_deleting_messages_is_recorded(owner: User, room: Room, moderator: User) -> None:
    first = services.post_chat_message(room, owner, "one")
    services.post_chat_message(room, owner, "two")
    assert services.delete_chat_messages(moderator, [first], source=API) == 1
    assert list(ChatMessage.objects.values_list("text", flat=True)) == ["two"]
    (entry,) = _actions(Action.DELETE_MESSAGE)
    assert (entry.target_user, entry.room) == (owner, room)


def test_members_cannot_delete_messages(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    message = services.post_chat_message(room, owner, "one")
    with pytest.raises(RoomForbiddenError):
        services.delete_chat_messages(make_user(), [message], source=API)
    assert ChatMessage.objects.count() == 1


# --- Presence-side moderation and ownership -------------------------------------------------------


def test_kick_and_mute_are_checked_and_recorded(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    target = services.actor_for_user(make_user("victim"))
    services.kick_from_room(owner, room, target, reason="calm down", source=WS)
    mute = services.mute_in_room(owner, room, target, duration_seconds=30, source=WS)
    services.unmute_in_room(owner, room, target, source=WS)
    assert mute.expires_at is not None
    assert [a.action for a in ModerationAction.objects.order_by("id")] == [
        "KICK",
        "MUTE",
        "UNMUTE",
    ]
    with pytest.raises(RoomForbiddenError):
        services.kick_from_room(target, room, services.actor_for_user(owner), source=WS)


def test_give_ownership_moves_the_room_and_is_recorded(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    heir = make_user("heir")
    services.give_ownership(owner, room, heir, source=WS)
    assert Room.objects.get(pk=room.pk).owner == heir
    assert ModerationAction.objects.get().action == Action.GIVE_OWNERSHIP
    with pytest.raises(RoomForbiddenError):
        services.give_ownership(owner, room, owner, source=WS)
    with pytest.raises(LobbyProtectedError):
        services.give_ownership(heir, services.ensure_lobby(), owner, source=WS)


def test_a_crowned_heir_may_kick_but_not_ban_the_owner_nor_change_the_room(
    owner: User, room: Room, make_user: Callable[..., User]
) -> None:
    heir_user, troll = make_user(), make_user()
    heir = rules.Actor(user_id=heir_user.pk, name=heir_user.username, crowned=True)
    services.kick_from_room(heir, room, services.actor_for_user(troll), source=WS)
    with pytest.raises(RoomForbiddenError):
        services.ban_from_room(heir, room, target_user=owner, source=WS)
    with pytest.raises(RoomForbiddenError):
        services.update_room(heir, room, {"password": "mine now"}, WS)
    with pytest.raises(RoomForbiddenError):
        services.give_ownership(heir, room, heir_user, source=WS)
    with pytest.raises(RoomForbiddenError):
        services.close_room(heir, room, WS)
    room.refresh_from_db()
    assert room.owner == owner
    assert not room.has_password


def test_a_crowned_heir_mutes_only_players_present_and_for_an_hour_at_most(
    room: Room, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    heir_user, troll = make_user(), make_user()
    heir = rules.Actor(user_id=heir_user.pk, name=heir_user.username, crowned=True)
    target = services.actor_for_user(troll)
    present: set[str] = set()
    monkeypatch.setattr(services, "_is_present", lambda _room, player: player in present)
    with pytest.raises(RoomForbiddenError, match="in the room"):
        services.mute_in_room(heir, room, target, duration_seconds=60, source=WS)
    present.add(str(troll.pk))
    with pytest.raises(RoomForbiddenError, match="an hour at most"):
        services.mute_in_room(heir, room, target, source=WS)
    with pytest.raises(RoomForbiddenError, match="an hour at most"):
        services.mute_in_room(heir, room, target, duration_seconds=3601, source=WS)
    services.mute_in_room(heir, room, target, duration_seconds=600, source=WS)
    mute = services.active_mute(room, target)
    assert mute is not None
    assert mute.muted_by == heir_user


def test_a_mute_set_by_a_higher_rank_is_theirs_to_lift(
    owner: User, moderator: User, room: Room, make_user: Callable[..., User]
) -> None:
    target = services.actor_for_user(make_user("troll"))
    services.mute_in_room(moderator, room, target, source=WS)
    with pytest.raises(RoomForbiddenError, match="higher rank"):
        services.unmute_in_room(owner, room, target, source=WS)
    with pytest.raises(RoomForbiddenError, match="higher rank"):
        services.mute_in_room(owner, room, target, duration_seconds=1, source=WS)
    mute = services.active_mute(room, target)
    assert mute is not None
    assert (mute.muted_by, mute.expires_at) == (moderator, None)
    services.unmute_in_room(moderator, room, target, source=WS)
    assert services.active_mute(room, target) is None
    # The owner replaces and lifts their own mutes.
    services.mute_in_room(owner, room, target, duration_seconds=60, source=WS)
    services.mute_in_room(owner, room, target, duration_seconds=120, source=WS)
    services.unmute_in_room(owner, room, target, source=WS)
    assert services.active_mute(room, target) is None


def test_a_crown_holder_cannot_lift_the_owners_mute_through_another_tab_of_the_guest(
    owner: User, room: Room, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "_is_present", lambda _room, _player: True)
    heir_user = make_user()
    heir = rules.Actor(user_id=heir_user.pk, name=heir_user.username, crowned=True)
    tab, other_tab = _guest("g-0000000000000001", "troll"), _guest("g-0000000000000002", "troll")
    services.mute_in_room(heir, room, tab, duration_seconds=600, source=WS)
    services.mute_in_room(owner, room, other_tab, source=WS)  # for good, by the owner
    attempts: tuple[Callable[[], object], ...] = (
        lambda: services.unmute_in_room(heir, room, tab, source=WS),
        lambda: services.mute_in_room(heir, room, tab, duration_seconds=1, source=WS),
    )
    for attempt in attempts:
        with pytest.raises(RoomForbiddenError, match="higher rank"):
            attempt()
    assert services.active_mute(room, tab) is not None
    assert RoomMute.objects.count() == 2
    services.unmute_in_room(owner, room, tab, source=WS)
    assert services.active_mute(room, other_tab) is None


def test_the_owner_lifts_a_mute_the_crown_holder_set(
    owner: User, room: Room, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "_is_present", lambda _room, _player: True)
    heir_user = make_user()
    heir = rules.Actor(user_id=heir_user.pk, name=heir_user.username, crowned=True)
    target = services.actor_for_user(make_user("troll"))
    services.mute_in_room(heir, room, target, duration_seconds=600, source=WS)
    services.unmute_in_room(owner, room, target, source=WS)
    assert services.active_mute(room, target) is None


# --- Lobbies ---------------------------------------------------------------------------------


def test_ensure_lobby_returns_the_migrated_lobby() -> None:
    lobby = services.ensure_lobby()
    assert (lobby.name, lobby.is_lobby, lobby.owner, lobby.max_members) == ("lobby", True, None, 30)
    assert services.ensure_lobby() == lobby
    assert Room.objects.filter(is_lobby=True).count() == 1


def test_ensure_lobby_recreates_a_missing_lobby() -> None:
    Room.objects.filter(is_lobby=True).delete()
    lobby = services.ensure_lobby()
    assert (lobby.name, lobby.persistent, lobby.is_public) == ("lobby", True, True)


def test_lobby_overflow_makes_numbered_lobbies() -> None:
    counts: dict[str, int] = {"lobby": 30}
    second = services.lobby_with_space(lambda r: counts.get(r.name, 0))
    assert (second.name, second.is_lobby, second.max_members) == ("lobby-2", True, 30)
    assert not second.persistent
    counts["lobby-2"] = 30
    third = services.lobby_with_space(lambda r: counts.get(r.name, 0))
    assert third.name == "lobby-3"
    # Space frees up in the first lobby: it is chosen again.
    counts["lobby"] = 29
    assert services.lobby_with_space(lambda r: counts.get(r.name, 0)).name == "lobby"


def test_lobby_overflow_orders_lobbies_numerically(make_room: Callable[..., Room]) -> None:
    make_room("lobby-10", is_lobby=True, max_members=30)
    make_room("lobby-2", is_lobby=True, max_members=30)
    # "lobby-10" sorts before "lobby-2" as text; the number decides.
    assert services.lobby_with_space(lambda r: 30 if r.name == "lobby" else 0).name == "lobby-2"
    assert services.lobby_with_space(lambda r: 30).name == "lobby-11"


def test_member_count_is_zero_until_presence_exists(room: Room) -> None:
    assert services.member_count(room) == 0


def test_record_moderation_refuses_unknown_action_or_source(owner: User, room: Room) -> None:
    with pytest.raises(InvalidArgumentError):
        services.record_moderation(owner, "EXPLODE", API, room=room)
    with pytest.raises(InvalidArgumentError):
        services.record_moderation(owner, Action.KICK, "CARRIER_PIGEON", room=room)
