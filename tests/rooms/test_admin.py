"""The rooms admin as a moderator (staff in the Moderators group, not a superuser) uses it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.admin.sites import site
from django.test import Client

from moderation.models import ModerationAction
from rooms import services
from rooms.models import ChatMessage, Room, RoomBan
from rooms.room_settings import BOOLEAN_SETTINGS
from users.models import User

pytestmark = pytest.mark.django_db
ADMIN = "/admin/rooms"
MODERATION_LOG = "/admin/moderation/moderationaction"


@pytest.fixture
def mod_client(moderator: User) -> Client:
    client = Client()
    client.force_login(moderator)
    return client


@pytest.mark.parametrize(
    "changelist",
    [
        f"{ADMIN}/room",
        f"{ADMIN}/chatmessage",
        MODERATION_LOG,
        f"{ADMIN}/roomban",
    ],
)
def test_moderator_opens_the_changelists(mod_client: Client, room: Room, changelist: str) -> None:
    response = mod_client.get(f"{changelist}/")
    assert response.status_code == 200


def test_member_cannot_reach_the_rooms_admin(make_user: Callable[..., User]) -> None:
    client = Client()
    client.force_login(make_user())
    response = client.get(f"{ADMIN}/room/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_moderator_searches_rooms_by_owner(mod_client: Client, room: Room) -> None:
    response = mod_client.get(f"{ADMIN}/room/", {"q": "owner"})
    assert "Jazz Club" in response.content.decode()
    response = mod_client.get(f"{ADMIN}/room/", {"q": "nobody-like-this"})
    assert "Jazz Club" not in response.content.decode()


def test_moderator_closes_a_room_and_the_action_is_logged(
    mod_client: Client, moderator: User, room: Room
) -> None:
    response = mod_client.post(
        f"{ADMIN}/room/", {"action": "close_rooms", "_selected_action": [str(room.pk)]}
    )
    assert response.status_code == 302
    assert not Room.objects.filter(pk=room.pk).exists()
    entry = ModerationAction.objects.get()
    assert (entry.action, entry.source, entry.actor, entry.room_name) == (
        "CLOSE_ROOM",
        "ADMIN",
        moderator,
        "Jazz Club",
    )
    log = mod_client.get(f"{MODERATION_LOG}/").content.decode()
    assert "Jazz Club" in log


def test_closing_the_lobby_in_the_admin_is_refused(mod_client: Client) -> None:
    lobby = services.ensure_lobby()
    mod_client.post(f"{ADMIN}/room/", {"action": "close_rooms", "_selected_action": [lobby.pk]})
    assert Room.objects.filter(pk=lobby.pk).exists()
    assert not ModerationAction.objects.exists()
    assert mod_client.get(f"{ADMIN}/room/{lobby.pk}/delete/").status_code == 403


def _room_form(room: Room, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": room.name,
        "max_members": room.max_members,
        "welcome_message": room.welcome_message,
        "color": room.color,
        "new_password": "",
        "bans-TOTAL_FORMS": "0",
        "bans-INITIAL_FORMS": "0",
        "bans-MIN_NUM_FORMS": "0",
        "bans-MAX_NUM_FORMS": "1000",
    }
    for flag in BOOLEAN_SETTINGS:
        if getattr(room, flag):
            data[flag] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_moderator_edits_a_room_through_the_service(mod_client: Client, room: Room) -> None:
    response = mod_client.post(
        f"{ADMIN}/room/{room.pk}/change/",
        _room_form(room, welcome_message="Be nice", new_password="hunter2"),
    )
    assert response.status_code == 302, response.content.decode()
    room.refresh_from_db()
    assert room.welcome_message == "Be nice"
    assert room.password_hash.startswith("argon2")
    entry = ModerationAction.objects.get()
    assert (entry.action, entry.source) == ("UPDATE_ROOM", "ADMIN")
    assert "hunter2" not in entry.reason


def test_room_admin_shows_rule_errors_on_the_form(
    mod_client: Client, room: Room, make_room: Callable[..., Room]
) -> None:
    make_room("Blues")
    response = mod_client.post(
        f"{ADMIN}/room/{room.pk}/change/", _room_form(room, name="BLUES", welcome_message="x")
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    response = mod_client.post(f"{ADMIN}/room/{room.pk}/change/", _room_form(room, name="lobby"))
    assert response.status_code == 200
    assert "reserved" in response.content.decode()
    room.refresh_from_db()
    assert (room.name, room.welcome_message) == ("Jazz Club", "")
    assert not ModerationAction.objects.exists()


def test_password_hash_is_not_editable(mod_client: Client, room: Room) -> None:
    page = mod_client.get(f"{ADMIN}/room/{room.pk}/change/").content.decode()
    assert 'name="password_hash"' not in page
    assert 'name="new_password"' in page


def test_ban_from_the_inline_is_recorded(
    mod_client: Client, room: Room, make_user: Callable[..., User]
) -> None:
    target = make_user("troll")
    data = _room_form(
        room,
        **{
            "bans-TOTAL_FORMS": "1",
            "bans-0-user": str(target.pk),
            "bans-0-guest_id": "",
            "bans-0-duration": "3600",
            "bans-0-reason": "spam",
        },
    )
    response = mod_client.post(f"{ADMIN}/room/{room.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()
    ban = RoomBan.objects.get()
    assert (ban.user, ban.reason) == (target, "spam")
    assert ban.expires_at is not None
    assert ModerationAction.objects.get().action == "BAN"


def test_ban_admin_add_and_delete_go_through_services(
    mod_client: Client, moderator: User, room: Room, make_user: Callable[..., User]
) -> None:
    target = make_user("troll")
    response = mod_client.post(
        f"{ADMIN}/roomban/add/",
        {"room": str(room.pk), "user": str(target.pk), "guest_id": "", "duration": "permanent"},
    )
    assert response.status_code == 302, response.content.decode()
    ban = RoomBan.objects.get()
    assert (ban.expires_at, ban.banned_by) == (None, moderator)
    response = mod_client.post(f"{ADMIN}/roomban/{ban.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not RoomBan.objects.exists()
    actions = list(ModerationAction.objects.order_by("id").values_list("action", "source"))
    assert actions == [("BAN", "ADMIN"), ("UNBAN", "ADMIN")]


def test_editing_a_ban_keeps_its_subject_and_expiry(
    mod_client: Client, moderator: User, room: Room, make_user: Callable[..., User]
) -> None:
    target, other = make_user("troll"), make_user("bystander")
    ban = services.ban_from_room(
        moderator, room, target_user=target, duration_seconds=3600, source="API"
    )
    response = mod_client.post(
        f"{ADMIN}/roomban/{ban.pk}/change/",
        {"user": str(other.pk), "reason": "still spamming", "duration": "keep"},
    )
    assert response.status_code == 302, response.content.decode()
    edited = RoomBan.objects.get()
    assert (edited.user, edited.reason) == (target, "still spamming")
    assert edited.expires_at is not None
    assert abs((edited.expires_at - ban.expires_at).total_seconds()) < 5  # type: ignore[operator]
    assert ModerationAction.objects.filter(action="BAN", source="ADMIN").count() == 1


def test_unban_from_the_inline_is_recorded(
    mod_client: Client, moderator: User, room: Room, make_user: Callable[..., User]
) -> None:
    ban = services.ban_from_room(moderator, room, target_user=make_user(), source="API")
    data = _room_form(
        room,
        **{
            "bans-TOTAL_FORMS": "1",
            "bans-INITIAL_FORMS": "1",
            "bans-0-id": str(ban.pk),
            "bans-0-room": str(room.pk),
            "bans-0-duration": "keep",
            "bans-0-reason": "",
            "bans-0-DELETE": "on",
        },
    )
    response = mod_client.post(f"{ADMIN}/room/{room.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()
    assert not RoomBan.objects.exists()
    assert ModerationAction.objects.filter(action="UNBAN", source="ADMIN").count() == 1


def test_ban_admin_refuses_banning_another_moderator(
    mod_client: Client, room: Room, make_moderator: Callable[..., User]
) -> None:
    other = make_moderator("othermod")
    response = mod_client.post(
        f"{ADMIN}/roomban/add/",
        {"room": str(room.pk), "user": str(other.pk), "guest_id": "", "duration": "permanent"},
    )
    assert response.status_code == 200
    assert "cannot do that" in response.content.decode()
    assert not RoomBan.objects.exists()


def test_deleting_chat_messages_is_recorded(mod_client: Client, owner: User, room: Room) -> None:
    message = services.post_chat_message(room, owner, "rude words")
    response = mod_client.post(
        f"{ADMIN}/chatmessage/",
        {"action": "delete_selected", "_selected_action": [message.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not ChatMessage.objects.exists()
    entry = ModerationAction.objects.get()
    assert (entry.action, entry.source, entry.target_user) == ("DELETE_MESSAGE", "ADMIN", owner)


def test_chat_messages_cannot_be_added_or_changed(
    mod_client: Client, owner: User, room: Room
) -> None:
    message = services.post_chat_message(room, owner, "hello")
    assert mod_client.get(f"{ADMIN}/chatmessage/add/").status_code == 403
    mod_client.post(f"{ADMIN}/chatmessage/{message.pk}/change/", {"text": "edited"})
    assert ChatMessage.objects.get().text == "hello"


def test_moderation_log_is_read_only(
    mod_client: Client, moderator: User, room: Room, rf: object
) -> None:
    entry = services.record_moderation(moderator, "KICK", "ADMIN", room=room, target_name="x")
    assert mod_client.get(f"{MODERATION_LOG}/add/").status_code == 403
    mod_client.post(f"{MODERATION_LOG}/{entry.pk}/change/", {"reason": "forged"})
    assert mod_client.get(f"{MODERATION_LOG}/{entry.pk}/delete/").status_code == 403
    entry.refresh_from_db()
    assert entry.reason == ""
    model_admin = site._registry[ModerationAction]
    request = type("Request", (), {"user": moderator})()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert model_admin.has_view_permission(request, entry)
