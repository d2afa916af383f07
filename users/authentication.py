"""Request authentication that refuses banned and disabled accounts on every request."""

from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.tokens import Token

from pianorhythm.exceptions import DomainError
from users import services
from users.models import User


class ActiveUserJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication, plus the site-ban check.

    An access token stays valid for minutes after its user is banned; this check makes the
    ban take effect on the next request instead.
    """

    # simplejwt annotates the result with a function-scoped TypeVar no override can satisfy.
    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        user = super().get_user(validated_token)
        if not isinstance(user, User):  # only with a stateless user class, which we do not use
            raise AuthenticationFailed("User not found", code="user_not_found")
        try:
            services.check_can_log_in(user)
        except DomainError as exc:
            raise AuthenticationFailed(exc.message, code=exc.code.lower()) from exc
        return user
