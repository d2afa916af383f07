"""What makes a JWT still good beyond its signature and expiry: the password it was issued
under, and the sign-in it belongs to.

Every token carries two claims of ours:

- ``pwd``, a stamp of the password at issue (Django's session auth hash: an HMAC of the
  password hash, as sessions use). A password change, by the user or an admin, changes it,
  so every access and refresh token issued before is refused on its next use, as every
  other browser session is.
- ``fam``, the sign-in (refresh-token family) it belongs to: the first refresh token's id,
  carried over on every rotation and copied into each access token. Logging out revokes the
  family for as long as an access token of it could live, so the access tokens of that
  sign-in stop working with its refresh token, and its sockets close.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any, Protocol

from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from users.models import EndedSignIn, User

STAMP_CLAIM = "pwd"
FAMILY_CLAIM = "fam"


class Claims(Protocol):
    """A decoded token (simplejwt's Token classes) or a plain dict of its claims."""

    def get(self, key: str, default: Any = None) -> Any: ...


def password_stamp(user: User) -> str:
    """The ``pwd`` claim for ``user``'s current password."""
    return user.get_session_auth_hash()


def family_of(token: Claims) -> str:
    family = token.get(FAMILY_CLAIM)
    return family if isinstance(family, str) else ""


def revoke_family(family: str) -> None:
    """End a sign-in: its access tokens are refused until they would have expired anyway."""
    if not family:
        return
    access: timedelta = jwt_settings.ACCESS_TOKEN_LIFETIME
    leeway = jwt_settings.LEEWAY
    leeway = leeway if isinstance(leeway, timedelta) else timedelta(seconds=leeway)
    now = timezone.now()
    EndedSignIn.objects.filter(expires_at__lt=now).delete()
    EndedSignIn.objects.update_or_create(
        family=family, defaults={"expires_at": now + access + leeway + timedelta(minutes=1)}
    )


def stamp_is_current(user: User, stamp: object) -> bool:
    """Whether ``stamp`` (a ``pwd`` claim) was made from ``user``'s current password."""
    return isinstance(stamp, str) and hmac.compare_digest(stamp, password_stamp(user))


def sign_in_ended(family: str) -> bool:
    """Whether the sign-in ``family`` was ended by a logout (for as long as it matters)."""
    if not family:
        return False
    return EndedSignIn.objects.filter(family=family, expires_at__gt=timezone.now()).exists()


def check_token_current(user: User, token: Claims) -> None:
    """Raise TokenError unless ``token`` was issued under ``user``'s current password and its
    sign-in has not been ended."""
    if not stamp_is_current(user, token.get(STAMP_CLAIM)):
        raise TokenError("The password has changed since this token was issued.")
    family = family_of(token)
    if not family or sign_in_ended(family):
        raise TokenError("This sign-in has ended.")


def revoke_all_refresh_tokens(user: User) -> int:
    """Blacklist every refresh token of ``user`` not yet blacklisted; returns how many."""
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(created)
