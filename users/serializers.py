"""REST shapes of accounts and tokens. Rules live in ``users.services``; these only adapt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenObtainSerializer

from users import services
from users.exceptions import InvalidFieldError
from users.models import User


def _checked(check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except InvalidFieldError as exc:
        raise serializers.ValidationError(exc.messages) from exc


class MeSerializer(serializers.ModelSerializer[User]):
    """The signed-in user's own account."""

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "display_name",
            "color",
            "role",
            "status_text",
            "bio",
            "email",
            "date_joined",
        ]
        read_only_fields = ["id", "username", "role", "date_joined"]

    def validate_display_name(self, value: str) -> str:
        user = self.instance if isinstance(self.instance, User) else None
        return _checked(lambda name: services.check_display_name(name, user), value)

    def validate_color(self, value: str) -> str:
        return _checked(services.check_color, value)

    def validate_status_text(self, value: str) -> str:
        return _checked(services.check_status_text, value)

    def validate_bio(self, value: str) -> str:
        return _checked(services.check_bio, value)

    def validate_email(self, value: str) -> str:
        return _checked(services.check_email, value)


class PublicProfileSerializer(serializers.ModelSerializer[User]):
    """What anyone may see of a user: never the email address or ban details."""

    class Meta:
        model = User
        fields = [
            "username",
            "display_name",
            "color",
            "role",
            "status_text",
            "bio",
            "date_joined",
        ]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer[User]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        write_only=True, max_length=256, style={"input_type": "password"}
    )
    email = serializers.CharField(max_length=254, required=False, allow_blank=True, default="")
    display_name = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", trim_whitespace=False
    )

    def validate_username(self, value: str) -> str:
        return _checked(services.check_username, value)

    def validate_email(self, value: str) -> str:
        return _checked(services.check_email, value)

    def validate_display_name(self, value: str) -> str:
        return _checked(services.check_display_name, value)

    def create(self, validated_data: dict[str, Any]) -> User:
        try:
            return services.register_user(**validated_data)
        except InvalidFieldError as exc:  # taken username, weak password
            raise serializers.ValidationError({exc.field: exc.messages}) from exc


class TokenPairSerializer(serializers.Serializer[dict[str, str]]):
    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)


class RegisteredSerializer(TokenPairSerializer):
    user = MeSerializer(read_only=True)


class LoginSerializer(TokenObtainSerializer):
    """Username and password in, a token pair out; banned users get SITE_BANNED."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        super().validate(attrs)  # authenticates: 401 on bad credentials or a disabled account
        user = self.user
        if not isinstance(user, User):  # super().validate() already refused this
            raise AuthenticationFailed("No active account found with the given credentials")
        tokens = services.issue_tokens(user)  # raises SiteBannedError
        services.record_login(user)
        return tokens


class RefreshSerializer(serializers.Serializer[dict[str, str]]):
    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        return services.rotate_refresh_token(attrs["refresh"])


class VerifySerializer(serializers.Serializer[None]):
    token = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        services.check_access_token(attrs["token"])
        return {}


class LogoutSerializer(serializers.Serializer[None]):
    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        services.revoke_refresh_token(attrs["refresh"])
        return {}
