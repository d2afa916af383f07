"""Every room setting in one place: its name, type, default, bounds, who may read and write it,
and its label on the web page.

The REST serializers, the admin's fieldsets, the rules' view of a room, the real-time snapshot
and the room-settings form of the web page are derived from ``ROOM_SETTINGS``; tests check
that the ``Room`` model and the protocol's ``RoomSettings`` match it
(tests/rooms/test_room_settings.py). docs/architecture.md walks through adding one.

Plain Python, no Django: the rules import it.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_MEMBERS = 2
MAX_MEMBERS = 100
DEFAULT_MAX_MEMBERS = 20
WELCOME_MAX_LENGTH = 500
PASSWORD_MAX_LENGTH = 128
COLOR_LENGTH = 7  # "#rrggbb"


@dataclass(frozen=True)
class RoomSetting:
    """One field of the protocol's ``RoomSettings``."""

    name: str
    #: bool, int or str: the protocol's bool, uint32 or string.
    type: type
    default: bool | int | str
    #: What the web page's room-settings form calls it.
    label: str
    #: The smallest and largest value of a number.
    min_value: int | None = None
    max_value: int | None = None
    #: The longest text.
    max_length: int | None = None
    #: Shown by the server (REST, the protocol, the admin). The password is write-only: a
    #: room shows only whether it has one.
    readable: bool = True
    #: Text that may be empty and is passed on as typed (the rules strip and check it);
    #: other text is trimmed by the REST API and may not be empty.
    free_text: bool = False


# In the protocol's RoomSettings order: REST bodies list the settings in this order too.
ROOM_SETTINGS: tuple[RoomSetting, ...] = (
    RoomSetting(
        "max_members",
        int,
        DEFAULT_MAX_MEMBERS,
        "Capacity",
        min_value=MIN_MEMBERS,
        max_value=MAX_MEMBERS,
    ),
    RoomSetting("is_public", bool, True, "Listed in the lobby"),
    RoomSetting("allow_guests", bool, True, "Guests may join"),
    RoomSetting("chat_enabled", bool, True, "Chat on"),
    RoomSetting("only_owner_can_play", bool, False, "Only the owner plays"),
    RoomSetting("only_owner_can_chat", bool, False, "Only the owner chats"),
    RoomSetting("unlimited_notes", bool, False, "Unlimited notes"),
    RoomSetting(
        "welcome_message",
        str,
        "",
        "Welcome message",
        max_length=WELCOME_MAX_LENGTH,
        free_text=True,
    ),
    RoomSetting("color", str, "#3b4a6b", "Colour", max_length=COLOR_LENGTH),
    RoomSetting("persistent", bool, False, "Keep the room when empty"),
    RoomSetting(
        "password",
        str,
        "",
        "New password",
        max_length=PASSWORD_MAX_LENGTH,
        readable=False,
        free_text=True,
    ),
)

SETTINGS_BY_NAME: dict[str, RoomSetting] = {setting.name: setting for setting in ROOM_SETTINGS}
#: The settings a room stores and shows (all but the password, which is stored as a hash).
READABLE_SETTINGS: tuple[str, ...] = tuple(s.name for s in ROOM_SETTINGS if s.readable)
#: The on/off settings: checkboxes on the web page, true or false in every request.
BOOLEAN_SETTINGS: tuple[str, ...] = tuple(s.name for s in ROOM_SETTINGS if s.type is bool)
