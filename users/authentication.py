"""Request authentication that refuses banned and disabled accounts on every request."""

from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.tokens import Token

from foundation.exceptions import DomainError
from users import services, tokens
from users.models import User


class ActiveUserJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication, plus the site-ban check and ``users.tokens``'
    (password changed since issue, sign-in ended by a logout).

    An access token stays valid for minutes after its user is banned, changes password or
    logs out; these checks make each take effect on the next request instead.
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
        try:
            tokens.check_token_current(user, validated_token)
        except TokenError as exc:
            raise AuthenticationFailed(str(exc), code="token_revoked") from exc
        return user
