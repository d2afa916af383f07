"""Room rules without a database."""

from __future__ import annotations

from typing import Any

import pytest

from rooms import rules
from rooms.rules import Actor, Candidate, Role, RoomView

OWNER = Actor(user_id=1, role=Role.MEMBER, name="owner")
MEMBER = Actor(user_id=2, role=Role.MEMBER, name="member")
MODERATOR = Actor(user_id=3, role=Role.MODERATOR, name="mod")
ADMIN = Actor(user_id=4, role=Role.ADMIN, name="admin")
GUEST = Actor(user_id=None, role=Role.GUEST, guest_id="g-1", name="Guest-1")
ROOM = RoomView(owner_user_id=1)
LOBBY = RoomView(owner_user_id=None, is_lobby=True, max_members=30)


# --- Permissions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "expected"),
    [(OWNER, True), (MODERATOR, True), (ADMIN, True), (MEMBER, False), (GUEST, False)],
)
def test_can_moderate_is_owner_or_site_moderator(actor: Actor, expected: bool) -> None:
    assert rules.can_moderate(actor, ROOM) is expected
    assert rules.can_update_room(actor, ROOM) is expected


def test_nobody_owns_the_lobby_but_moderators_moderate_it() -> None:
    assert not rules.can_moderate(OWNER, LOBBY)
    assert rules.can_moderate(MODERATOR, LOBBY)


def test_a_role_claimed_by_a_guest_gives_no_powers() -> None:
    fake = Actor(user_id=None, role=Role.ADMIN, guest_id="g-2")
    assert not rules.can_moderate(fake, ROOM)


CROWNED_MEMBER = Actor(user_id=2, role=Role.MEMBER, name="member", crowned=True)
CROWNED_GUEST = Actor(user_id=None, role=Role.GUEST, guest_id="g-1", crowned=True)


def test_the_crown_holder_moderates_but_does_not_own_the_room() -> None:
    for heir in (CROWNED_MEMBER, CROWNED_GUEST):
        assert rules.can_moderate(heir, ROOM)
        assert rules.can_moderate_member(heir, MEMBER if heir is CROWNED_GUEST else GUEST, ROOM)
        # The owner outranks whoever holds the crown in their absence...
        assert not rules.can_moderate_member(heir, OWNER, ROOM)
        # ...and only the owner (or a moderator) changes, closes or gives away the room.
        assert not rules.can_update_room(heir, ROOM)
        assert not rules.can_close_room(heir, ROOM)
    assert rules.can_moderate_member(OWNER, CROWNED_MEMBER, ROOM)
    assert rules.rank_in_room(OWNER, ROOM) > rules.rank_in_room(CROWNED_MEMBER, ROOM)


def test_the_crown_holder_of_a_room_without_an_owner_may_change_it() -> None:
    ownerless = RoomView(owner_user_id=None)
    assert rules.can_update_room(CROWNED_GUEST, ownerless)
    assert not rules.can_update_room(GUEST, ownerless)
    assert not rules.can_moderate(Actor(user_id=None, role=Role.GUEST), ownerless)


def test_nobody_holds_a_lobbys_crown() -> None:
    assert not rules.can_moderate(CROWNED_MEMBER, LOBBY)
    assert rules.crown_holder(LOBBY, [Candidate(user_id=2, guest_id="", joined_at=1.0)]) is None


def test_the_owner_holds_the_crown_whenever_present() -> None:
    owner = Candidate(user_id=1, guest_id="", joined_at=50.0)
    early = Candidate(user_id=2, guest_id="", joined_at=10.0)
    guest = Candidate(user_id=None, guest_id="g-1", joined_at=1.0)
    assert rules.crown_holder(ROOM, [guest, early, owner]) == owner
    assert rules.crown_holder(ROOM, [guest, early]) == early
    assert rules.crown_holder(ROOM, [guest]) == guest
    assert rules.crown_holder(ROOM, []) is None


def test_lobby_cannot_be_closed_even_by_an_admin() -> None:
    assert not rules.can_close_room(ADMIN, LOBBY)
    assert rules.can_close_room(OWNER, ROOM)
    assert not rules.can_close_room(MEMBER, ROOM)


def test_private_room_is_seen_only_by_owner_and_moderators() -> None:
    private = RoomView(owner_user_id=1, is_public=False)
    assert rules.can_see_room(OWNER, private)
    assert rules.can_see_room(MODERATOR, private)
    assert not rules.can_see_room(MEMBER, private)
    assert not rules.can_see_room(GUEST, private)
    assert rules.can_see_room(GUEST, ROOM)


@pytest.mark.parametrize(
    ("actor", "target", "expected"),
    [
        (OWNER, MEMBER, True),
        (OWNER, GUEST, True),
        (OWNER, MODERATOR, False),
        (OWNER, OWNER, False),
        (MODERATOR, OWNER, True),
        (MODERATOR, ADMIN, False),
        (MODERATOR, Actor(user_id=9, role=Role.MODERATOR), False),
        (ADMIN, MODERATOR, True),
        (MEMBER, GUEST, False),
    ],
)
def test_moderation_goes_only_down_the_ranks(actor: Actor, target: Actor, expected: bool) -> None:
    assert rules.can_moderate_member(actor, target, ROOM) is expected


def test_only_owner_can_play_lets_owner_and_moderators_play() -> None:
    room = RoomView(owner_user_id=1, only_owner_can_play=True)
    assert rules.play_refusal(OWNER, room) is None
    assert rules.play_refusal(MODERATOR, room) is None
    assert rules.play_refusal(MEMBER, room) == "FORBIDDEN"
    assert rules.play_refusal(MEMBER, ROOM) is None


def test_muted_players_can_neither_play_nor_chat() -> None:
    assert rules.play_refusal(MEMBER, ROOM, muted=True) == "MUTED"
    assert rules.chat_refusal(MEMBER, ROOM, muted=True) == "MUTED"
    assert rules.chat_refusal(OWNER, ROOM, muted=True) == "MUTED"


def test_disabled_chat_refuses_members_but_not_the_owner() -> None:
    room = RoomView(owner_user_id=1, chat_enabled=False)
    assert rules.chat_refusal(MEMBER, room) == "CHAT_DISABLED"
    assert rules.chat_refusal(GUEST, room) == "CHAT_DISABLED"
    assert rules.chat_refusal(OWNER, room) is None
    assert rules.chat_refusal(MODERATOR, room) is None


def test_owner_only_chat_is_forbidden_to_members() -> None:
    room = RoomView(owner_user_id=1, only_owner_can_chat=True)
    assert rules.chat_refusal(MEMBER, room) == "FORBIDDEN"
    assert rules.chat_refusal(OWNER, room) is None
    assert rules.chat_refusal(MEMBER, ROOM) is None


def test_join_refusals_in_order() -> None:
    no_guests = RoomView(owner_user_id=1, allow_guests=False, max_members=2)
    assert rules.join_refusal(GUEST, no_guests, member_count=5, banned=True) == "BANNED"
    assert rules.join_refusal(GUEST, no_guests, member_count=5, banned=False) == (
        "GUESTS_NOT_ALLOWED"
    )
    assert rules.join_refusal(MEMBER, no_guests, member_count=2, banned=False) == "ROOM_FULL"
    assert rules.join_refusal(MEMBER, no_guests, member_count=1, banned=False) is None


def test_password_is_needed_by_everyone_but_owner_and_moderators() -> None:
    locked = RoomView(owner_user_id=1, has_password=True)
    assert rules.needs_password(MEMBER, locked)
    assert rules.needs_password(GUEST, locked)
    assert not rules.needs_password(OWNER, locked)
    assert not rules.needs_password(MODERATOR, locked)
    assert not rules.needs_password(MEMBER, ROOM)


# --- Settings validation -----------------------------------------------------------------


def _invalid(changes: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    with pytest.raises(rules.RoomSettingsInvalidError) as caught:
        rules.validate_room_settings(changes, **kwargs)
    return caught.value.fields


def test_valid_settings_are_cleaned() -> None:
    cleaned = rules.validate_room_settings(
        {
            "name": "Späť ♪ room",
            "max_members": 2,
            "is_public": False,
            "color": "#AABBCC",
            "welcome_message": "  hi\nthere ",
            "password": "",
        }
    )
    assert cleaned == {
        "name": "Späť ♪ room",
        "max_members": 2,
        "is_public": False,
        "color": "#aabbcc",
        "welcome_message": "hi\nthere",
        "password": "",
    }


def test_only_given_keys_are_checked() -> None:
    assert rules.validate_room_settings({}) == {}
    assert rules.validate_room_settings({"chat_enabled": False}) == {"chat_enabled": False}


@pytest.mark.parametrize("value", [1, 101, 0, -5, "20", 20.0, True, None])
def test_max_members_must_be_a_whole_number_from_2_to_100(value: Any) -> None:
    assert "max_members" in _invalid({"max_members": value})


def test_max_members_bounds_are_inclusive() -> None:
    assert rules.validate_room_settings({"max_members": 100}) == {"max_members": 100}
    assert rules.validate_room_settings({"max_members": 2}) == {"max_members": 2}


def test_lobby_holds_at_most_30() -> None:
    assert rules.validate_room_settings({"max_members": 30}, is_lobby=True)
    assert "max_members" in _invalid({"max_members": 31}, is_lobby=True)


@pytest.mark.parametrize(
    "name",
    [
        "",
        " padded",
        "padded ",
        "x" * 65,
        "tab\there",
        "new\nline",
        "null\x00",
        "rtl\u202eoverride",
        "iso\u2066late",
        "zero\u200bwidth",
        "joiner\u200d",
        "bom\ufeff",
        "nbsp\u00a0name",
        "del\x7f",
    ],
)
def test_bad_names_are_refused(name: str) -> None:
    assert "name" in _invalid({"name": name})


def test_name_of_64_characters_is_fine() -> None:
    assert rules.validate_room_settings({"name": "n" * 64}) == {"name": "n" * 64}


@pytest.mark.parametrize("name", ["lobby", "Lobby", "LOBBY-2", "lobby-17"])
def test_lobby_names_are_reserved(name: str) -> None:
    assert "reserved" in _invalid({"name": name})["name"]


def test_lobby_cannot_be_renamed_made_private_or_locked() -> None:
    errors = _invalid(
        {"name": "x", "is_public": False, "persistent": False, "password": "pw"}, is_lobby=True
    )
    assert set(errors) == {"name", "is_public", "persistent", "password"}


def test_welcome_message_is_limited_and_free_of_control_characters() -> None:
    assert rules.validate_room_settings({"welcome_message": "w" * 500})
    assert "welcome_message" in _invalid({"welcome_message": "w" * 501})
    assert "welcome_message" in _invalid({"welcome_message": "bell\x07"})
    assert "welcome_message" in _invalid({"welcome_message": "\u202eevil"})


@pytest.mark.parametrize("color", ["red", "#fff", "#12345g", "123456", "#1234567", ""])
def test_colour_must_be_hash_rrggbb(color: str) -> None:
    assert "color" in _invalid({"color": color})


def test_password_is_limited_and_empty_clears() -> None:
    assert rules.validate_room_settings({"password": "p" * 128}) == {"password": "p" * 128}
    assert rules.validate_room_settings({"password": ""}) == {"password": ""}
    assert "password" in _invalid({"password": "p" * 129})
    assert "password" in _invalid({"password": 1234})


def test_booleans_must_be_booleans() -> None:
    assert "is_public" in _invalid({"is_public": "yes"})
    assert "chat_enabled" in _invalid({"chat_enabled": 1})


def test_unknown_settings_are_refused_with_all_errors_together() -> None:
    errors = _invalid({"volume": 11, "color": "nope", "max_members": 1})
    assert set(errors) == {"volume", "color", "max_members"}


# --- Names and lobbies ---------------------------------------------------------------------


def test_lobby_names_count_from_one() -> None:
    assert rules.lobby_name(1) == "lobby"
    assert rules.lobby_name(2) == "lobby-2"
    assert rules.lobby_name(12) == "lobby-12"
    with pytest.raises(ValueError, match="numbered"):
        rules.lobby_name(0)


@pytest.mark.parametrize(
    ("name", "number"),
    [("lobby", 1), ("LOBBY", 1), ("lobby-2", 2), ("Lobby-10", 10), ("lobbyist", None),
     ("lobby-", None), ("lobby-x", None), ("my lobby", None), ("lobby-2 ", None)],
)  # fmt: skip
def test_is_lobby_name_and_number(name: str, number: int | None) -> None:
    assert rules.is_lobby_name(name) is (number is not None)
    assert rules.lobby_number(name) == number


# --- Chat ----------------------------------------------------------------------------------


def test_chat_text_is_stripped() -> None:
    assert rules.clean_chat_text("  hello <b>world</b>  ") == "hello <b>world</b>"


def test_chat_allows_emoji_sequences_with_joiners() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert rules.clean_chat_text(family) == family


@pytest.mark.parametrize(
    "text",
    ["", "   ", "x" * 501, "\U0001f3b9" * 10_000, "a\x00b", "line\nbreak", "\u202ereversed",
     "\u2067isolate", "\ud800"],
)  # fmt: skip
def test_chat_refuses_empty_long_control_and_bidi_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)message"):
        rules.clean_chat_text(text)


def test_chat_counts_characters_after_stripping() -> None:
    assert len(rules.clean_chat_text(" " + "x" * 500 + " ")) == 500


# --- Ownership -------------------------------------------------------------------------------


def test_next_owner_prefers_the_longest_present_registered_member() -> None:
    members = [
        Candidate(user_id=None, guest_id="g-old", joined_at=1.0),
        Candidate(user_id=7, guest_id="", joined_at=5.0),
        Candidate(user_id=8, guest_id="", joined_at=3.0),
    ]
    heir = rules.next_owner(members)
    assert heir is not None
    assert heir.user_id == 8


def test_next_owner_falls_back_to_the_longest_present_guest() -> None:
    members = [
        Candidate(user_id=None, guest_id="g-new", joined_at=9.0),
        Candidate(user_id=None, guest_id="g-old", joined_at=2.0),
    ]
    heir = rules.next_owner(members)
    assert heir is not None
    assert heir.guest_id == "g-old"


def test_next_owner_of_an_empty_room_is_none() -> None:
    assert rules.next_owner([]) is None


def test_password_room_history_is_for_those_it_let_in() -> None:
    locked = RoomView(owner_user_id=1, has_password=True)
    read = rules.can_read_history
    assert read(OWNER, locked, present=False, banned=False)
    assert read(MODERATOR, locked, present=False, banned=False)
    assert read(MEMBER, locked, present=True, banned=False)
    assert not read(MEMBER, locked, present=False, banned=False)
    assert not read(MEMBER, locked, present=True, banned=True)
    assert not read(GUEST, locked, present=False, banned=False)
    assert read(GUEST, RoomView(owner_user_id=1), present=False, banned=False)
    private = RoomView(owner_user_id=1, is_public=False)
    assert not read(MEMBER, private, present=False, banned=False)


@pytest.mark.parametrize("what", ["ban", "mute"])
def test_a_crown_holder_bans_or_mutes_only_players_present_and_for_an_hour_at_most(
    what: str,
) -> None:
    def refusal(actor: rules.Actor, duration: int | None, present: bool) -> str | None:
        return rules.heir_sanction_refusal(
            actor, ROOM, what=what, duration_seconds=duration, target_present=present
        )

    assert refusal(CROWNED_GUEST, 600, True) is None
    assert what in (refusal(CROWNED_GUEST, 600, False) or "")
    assert what in (refusal(CROWNED_GUEST, None, True) or "")
    assert refusal(CROWNED_GUEST, 3601, True)
    assert refusal(OWNER, None, False) is None
    assert refusal(MODERATOR, None, False) is None


@pytest.mark.parametrize(
    "name",
    [
        "l\u043ebby-9",
        "\uff4c\uff4f\uff42\uff42\uff59-9",
        "lobby\u20109",
        "LOBBY",
        "lob by",
        "l0bby 2",
        "1obby_5",
        "lobby\u0669",
        "Lobby...",
        "lobby-\ua75a",  # an R rotunda looks like a 2
        "Lobby \ua7ab",  # a reversed open E, like a 3
    ],
)
def test_names_that_pass_for_a_lobby_are_reserved(name: str) -> None:
    errors = _invalid({"name": name})
    assert "reserved for lobbies" in errors["name"]


@pytest.mark.parametrize("name", ["lobbyist", "Lobby Lounge", "lobby-2x", "Hobby 2"])
def test_names_that_only_begin_like_a_lobby_are_fine(name: str) -> None:
    assert rules.validate_room_settings({"name": name}) == {"name": name}


@pytest.mark.parametrize(
    "name",
    [
        "lobby\u25002",  # box drawings light horizontal
        "lobby\u30fc2",  # the katakana prolonged sound mark
        "lobby\u23af2",  # horizontal line extension
        "lobby\u4e002",  # the ideograph one
        "lobby\u22192",  # a bullet operator
        "lobby\u2122",  # a trade mark sign
        "lobby \u2713",  # a check mark
        "\u2605 lobby \u2605",
    ],
)
def test_symbols_and_dash_like_letters_do_not_disguise_a_lobby(name: str) -> None:
    errors = _invalid({"name": name})
    assert "reserved for lobbies" in errors["name"]


@pytest.mark.parametrize(
    "name", ["\u2605 Lobby Lounge \u2605", "\u4e00\u90ce's room", "\u30e9\u30fc\u30e1\u30f3 lobby"]
)
def test_rooms_with_symbols_or_dash_like_letters_are_otherwise_fine(name: str) -> None:
    assert rules.validate_room_settings({"name": name}) == {"name": name}


# --- chat text: invisible characters stripped, the rest judged --------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert('x')</script>",
        '<img src=x onerror="alert(1)">',
        "&lt;b&gt; & ' \" `",
        "' OR 1=1; --",
    ],
)
def test_markup_in_chat_is_kept_as_data(text: str) -> None:
    assert rules.clean_chat_text(text) == text


def test_chat_is_trimmed() -> None:
    assert rules.clean_chat_text("  hello\n") == "hello"


@pytest.mark.parametrize(
    "char", list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
)
def test_bidi_controls_in_chat_are_refused(char: str) -> None:
    with pytest.raises(ValueError, match="control, invisible or direction"):
        rules.clean_chat_text(f"invoice{char}fdp.exe")


@pytest.mark.parametrize("char", ["\u200b", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u2062"])
def test_invisible_characters_are_stripped_from_chat(char: str) -> None:
    assert rules.clean_chat_text(f"{char}he{char}llo{char}") == "hello"


def test_emoji_sequences_keep_their_joiners() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    assert rules.clean_chat_text(f"{family} {scotland}") == f"{family} {scotland}"


@pytest.mark.parametrize(
    "text", ["a\x00b", "bell\x07", "a\x1b[31mred", "del\x7f", "a\nb", "a\tb", "a\x85b", "é\x00"]
)
def test_control_characters_in_chat_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="control, invisible or direction"):
        rules.clean_chat_text(text)


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\u200b\u200b", "\u200d", "\ufeff \u200c"])
def test_empty_chat_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        rules.clean_chat_text(text)


def test_unpaired_surrogate_in_chat_is_refused() -> None:
    with pytest.raises(ValueError, match="control, invisible or direction"):
        rules.clean_chat_text("a\ud800b")


def test_chat_of_500_emoji_is_accepted() -> None:
    assert rules.clean_chat_text("\U0001f3b9" * 500) == "\U0001f3b9" * 500


@pytest.mark.parametrize("text", ["x" * 501, "\U0001f3b9" * 501, "\U0001f600" * 10_000])
def test_chat_over_500_characters_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="500"):
        rules.clean_chat_text(text)


def test_chat_limit_counts_what_is_left_after_stripping() -> None:
    assert rules.clean_chat_text("\u200b" * 100 + "x" * 500) == "x" * 500
