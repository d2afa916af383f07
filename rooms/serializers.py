"""Shapes of the rooms REST API. Types only: the rules live in ``rooms.rules``/``services``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from rooms import services
from rooms.models import ChatMessage, Room, RoomBan
from rooms.room_settings import ROOM_SETTINGS, RoomSetting
from users.guests import GUEST_ID_PATTERN
from users.models import User


def _read_field(setting: RoomSetting) -> serializers.Field[Any, Any, Any, Any]:
    if setting.type is bool:
        return serializers.BooleanField()
    if setting.type is int:
        return serializers.IntegerField()
    return serializers.CharField()


def _write_field(setting: RoomSetting) -> serializers.Field[Any, Any, Any, Any]:
    # No bounds here: the rules check values and say what is wrong in their own words.
    if setting.type is bool:
        return serializers.BooleanField(required=False)
    if setting.type is int:
        return serializers.IntegerField(required=False)
    if setting.free_text:
        return serializers.CharField(
            required=False,
            allow_blank=True,
            trim_whitespace=False,
            write_only=not setting.readable,
        )
    return serializers.CharField(required=False)


class RoomSettingsSerializer(serializers.Serializer[Room]):
    """The protocol's RoomSettings, as read (the password is never shown)."""

    # One field per readable setting of rooms.room_settings (the docstring is the API's).
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {s.name: _read_field(s) for s in ROOM_SETTINGS if s.readable}


class RoomSerializer(serializers.ModelSerializer[Room]):
    """The protocol's RoomInfo, with the owner's username and the creation time."""

    settings = RoomSettingsSerializer(source="*", read_only=True)
    owner = serializers.CharField(source="owner.username", allow_null=True, read_only=True)
    has_password = serializers.BooleanField(read_only=True)
    member_count = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = [
            "id",
            "name",
            "settings",
            "owner",
            "is_lobby",
            "has_password",
            "member_count",
            "created_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Room) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        # A password room's welcome message is for those it let in: the view says who.
        if instance.has_password and not self.context.get("insider", False):
            data["settings"]["welcome_message"] = ""
        return data

    def get_member_count(self, room: Room) -> int:
        counts = self.context.get("member_counts")
        if counts is not None:
            return int(counts.get(str(room.pk), 0))
        return services.member_count(room)


class StrictSerializer(serializers.Serializer[Any]):
    """Refuses keys it does not know: a misplaced setting must not be silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: [self.unknown_field_message(key)] for key in unknown}
                )
        return super().to_internal_value(data)

    def unknown_field_message(self, key: str) -> str:
        return "Unknown field."


class RoomSettingsInputSerializer(StrictSerializer):
    """RoomSettings as written: every field optional; ``password`` "" clears it."""

    # One field per setting of rooms.room_settings (the docstring is the API's).
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {setting.name: _write_field(setting) for setting in ROOM_SETTINGS}


class RoomWriteSerializer(StrictSerializer):
    """A room's name and settings, as sent to create (name required) or PATCH a room."""

    name = serializers.CharField(required=False, trim_whitespace=False)
    settings = RoomSettingsInputSerializer(required=False)

    def unknown_field_message(self, key: str) -> str:
        if key in RoomSettingsInputSerializer().fields:
            return f'Unknown field; room settings go inside "settings": {{"{key}": ...}}.'
        return "Unknown field."

    def changes(self) -> dict[str, Any]:
        """The validated input flattened to what ``services`` take."""
        data = dict(self.validated_data)
        flat: dict[str, Any] = dict(data.pop("settings", {}))
        flat.update(data)
        return flat


class RoomCreateSerializer(RoomWriteSerializer):
    name = serializers.CharField(trim_whitespace=False)


def settings_error_fields(fields: Mapping[str, str]) -> dict[str, Any]:
    """Rule errors keyed like the request body: ``name`` at the top, the rest in settings."""
    nested: dict[str, Any] = {}
    for key, message in fields.items():
        if key == "name":
            nested["name"] = [message]
        else:
            nested.setdefault("settings", {})[key] = [message]
    return nested


class ChatMessageSerializer(serializers.ModelSerializer[ChatMessage]):
    username = serializers.CharField(source="user.username", allow_null=True, read_only=True)
    role = serializers.SerializerMethodField(
        help_text="GUEST, MEMBER, MODERATOR or ADMIN: who the author is (show it by the name)."
    )

    class Meta:
        model = ChatMessage
        fields = ["id", "username", "display_name", "role", "text", "sent_at"]
        read_only_fields = fields

    def get_role(self, message: ChatMessage) -> str:
        author = message.user
        if author is None:
            return "GUEST"
        return "ADMIN" if author.is_superuser else author.role


class RoomBanSerializer(serializers.ModelSerializer[RoomBan]):
    username = serializers.CharField(source="user.username", allow_null=True, read_only=True)
    banned_by = serializers.CharField(source="banned_by.username", allow_null=True, read_only=True)

    class Meta:
        model = RoomBan
        fields = ["id", "username", "guest_id", "reason", "created_at", "expires_at", "banned_by"]
        read_only_fields = fields


class RoomBanCreateSerializer(serializers.Serializer[Any]):
    """Ban a registered player (``username``) or a guest (``guest_id``), not both."""

    username = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), required=False, allow_null=True
    )
    guest_id = serializers.RegexField(
        rf"^{GUEST_ID_PATTERN}$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "Not a guest id (they look like g-0123456789abcdef)."},
    )
    duration_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=services.MAX_BAN_SECONDS,
        help_text="Omit or null for a permanent ban.",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=services.REASON_MAX_LENGTH
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("username") is None) == (not attrs.get("guest_id")):
            raise serializers.ValidationError("Give either a username or a guest_id.")
        return attrs
