"""Use cases of the users app: registration, profiles, site bans, roles and tokens.

``check_*`` functions validate one value and return it normalised, raising
``InvalidFieldError``; the other functions change state. Serializers and forms call the
``check_*`` functions to report every bad field at once; the state-changing functions call
them again, so no caller can skip a rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.contrib.auth.models import BaseUserManager, Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from foundation.exceptions import DomainError, InvalidArgumentError, NotFoundError
from moderation import records
from moderation.models import ModerationAction
from users import rules, tokens
from users.exceptions import (
    AccountInactiveError,
    InvalidFieldError,
    NotAllowedToModerateError,
    SiteBannedError,
    UsernameTakenError,
)
from users.models import User
from users.signals import sign_in_ended, site_ban_changed

MODERATORS_GROUP = "Moderators"
# A permanent ban is stored as a far-future end so that "banned now" stays one comparison;
# the audit log records it with an empty expires_at, as room bans do.
PERMANENT_BAN_UNTIL = datetime(9999, 12, 31, tzinfo=UTC)
REASON_MAX = 255
PROFILE_FIELDS = frozenset({"display_name", "color", "status_text", "bio", "email"})

Source = ModerationAction.Source
Action = ModerationAction.Action


# --- Checks ------------------------------------------------------------------------------


def _check_rule(field: str, value: str, problem: str | None) -> str:
    if problem:
        raise InvalidFieldError(field, problem)
    return value


def _looks_like_a_username(name: str, other_than: User | None) -> bool:
    """Whether ``name`` looks like another account's username (``rules.name_skeleton``)."""
    alike = User.objects.filter(name_key=rules.name_skeleton(name))
    if other_than is not None and other_than.pk is not None:
        alike = alike.exclude(pk=other_than.pk)
    return alike.exists()


def check_username(username: str) -> str:
    """A new username: the rules, and not a look-alike of another account's."""
    username = username.strip()
    username = _check_rule("username", username, rules.username_problem(username))
    if (
        _looks_like_a_username(username, None)
        and not User.objects.filter(username__iexact=username).exists()
    ):
        raise InvalidFieldError("username", "That username looks like another player's.")
    return username


def check_display_name(name: str, user: User | None = None) -> str:
    """A display name for ``user`` (None: an account being made, or a guest): the rules, and
    not a look-alike of another account's username."""
    name = rules.normalize_text(name)
    name = _check_rule("display_name", name, rules.display_name_problem(name))
    if name and _looks_like_a_username(name, user):
        raise InvalidFieldError("display_name", "That name looks like another player's username.")
    return name


def check_color(color: str) -> str:
    color = color.strip()
    return _check_rule("color", color, rules.color_problem(color)).lower()


def check_status_text(text: str) -> str:
    text = rules.normalize_text(text)
    return _check_rule("status_text", text, rules.status_text_problem(text))


def check_bio(text: str) -> str:
    text = rules.normalize_text(text.replace("\r\n", "\n"))
    return _check_rule("bio", text, rules.bio_problem(text))


def check_email(email: str) -> str:
    email = email.strip()
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidFieldError("email", exc.messages) from exc
    return BaseUserManager.normalize_email(email)


def check_password(password: str, user: User | None = None) -> str:
    """Run the configured password validators (length, common, numeric, like the user)."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidFieldError("password", exc.messages) from exc
    return password


def check_can_log_in(user: User) -> None:
    """Raise unless the account may sign in or use a session or token right now."""
    if not user.is_active:
        raise AccountInactiveError()
    if user.is_site_banned:
        raise SiteBannedError(ban_end(user), user.ban_reason)


def ban_end(user: User) -> datetime | None:
    """When the user's site ban ends; None if it is permanent (or there is none)."""
    if user.banned_until is None or user.banned_until >= PERMANENT_BAN_UNTIL:
        return None
    return user.banned_until


def may_moderate(actor: User, target: User) -> bool:
    """Whether ``actor`` may site-ban, unban or edit ``target`` (see ``rules.may_moderate``)."""
    return rules.may_moderate(
        rules.role_rank(actor.role, actor.is_superuser),
        rules.role_rank(target.role, target.is_superuser),
        is_self=actor.pk == target.pk,
    )


def _check_may_moderate(actor: User, target: User) -> None:
    if not may_moderate(actor, target):
        raise NotAllowedToModerateError(f"You may not moderate {target.username}.")


def _check_reason(reason: str) -> str:
    reason = rules.normalize_text(reason)
    if len(reason) > REASON_MAX:
        raise InvalidFieldError("reason", f"Reasons have at most {REASON_MAX} characters.")
    return reason


# --- Accounts and profiles -----------------------------------------------------------------


def register_user(username: str, password: str, email: str = "", display_name: str = "") -> User:
    """Create a member account; usernames are unique regardless of case."""
    username = check_username(username)
    if User.objects.filter(username__iexact=username).exists():
        raise UsernameTakenError()
    user = User(
        username=username,
        email=check_email(email),
        display_name=check_display_name(display_name),
        role=User.Role.MEMBER,
    )
    user.set_password(check_password(password, user))
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent registration took the name (any case)
        raise UsernameTakenError() from exc
    return user


def update_profile(user: User, **fields: str) -> User:
    """Change any of display_name, color, status_text, bio and email."""
    unknown = set(fields) - PROFILE_FIELDS
    if unknown:
        raise InvalidArgumentError(f"Unknown profile fields: {', '.join(sorted(unknown))}.")
    checks: dict[str, Callable[[str], str]] = {
        "display_name": lambda name: check_display_name(name, user),
        "color": check_color,
        "status_text": check_status_text,
        "bio": check_bio,
        "email": check_email,
    }
    for name, value in fields.items():
        setattr(user, name, checks[name](value))
    if fields:
        user.save(update_fields=list(fields))
    return user


def get_public_profile(username: str) -> User:
    user = User.objects.filter(username__iexact=username, is_active=True).first()
    if user is None:
        raise NotFoundError("No such user.")
    return user


# --- Moderation ----------------------------------------------------------------------------


def _record(
    action: str,
    *,
    by: User,
    target: User,
    source: str,
    reason: str = "",
    expires_at: datetime | None = None,
) -> ModerationAction:
    return records.record(
        action,
        source,
        actor_id=by.pk,
        actor_name=by.username,
        target_user_id=target.pk,
        target_name=target.username,
        reason=reason,
        expires_at=expires_at,
    )


def _announce_ban_change(user: User) -> None:
    user_id, until = user.pk, user.banned_until
    transaction.on_commit(
        lambda: site_ban_changed.send(sender=User, user_id=user_id, banned_until=until)
    )


@transaction.atomic
def site_ban(
    user: User,
    *,
    by: User,
    until: datetime | None = None,
    duration: timedelta | None = None,
    reason: str = "",
    source: str,
) -> ModerationAction:
    """Ban ``user`` from the whole site until a time, for a duration, or (neither) for good.

    Their sessions and tokens stop working at once and they cannot sign in until it ends.
    """
    _check_may_moderate(by, user)
    if until is not None and duration is not None:
        raise InvalidArgumentError("Give either an end time or a duration, not both.")
    if duration is not None:
        if duration <= timedelta(0):
            raise InvalidFieldError("duration", "The duration must be positive.")
        until = timezone.now() + duration
    elif until is not None and until <= timezone.now():
        raise InvalidFieldError("until", "The ban must end in the future.")
    reason = _check_reason(reason)
    user.banned_until = until or PERMANENT_BAN_UNTIL
    user.ban_reason = reason
    user.save(update_fields=["banned_until", "ban_reason"])
    _announce_ban_change(user)
    return _record(
        Action.SITE_BAN, by=by, target=user, source=source, reason=reason, expires_at=until
    )


@transaction.atomic
def site_unban(user: User, *, by: User, reason: str = "", source: str) -> ModerationAction:
    """Lift ``user``'s site ban."""
    _check_may_moderate(by, user)
    if not user.is_site_banned:
        raise InvalidArgumentError(f"{user.username} is not banned.")
    reason = _check_reason(reason)
    user.banned_until = None
    user.ban_reason = ""
    user.save(update_fields=["banned_until", "ban_reason"])
    _announce_ban_change(user)
    return _record(Action.SITE_UNBAN, by=by, target=user, source=source, reason=reason)


@transaction.atomic
def set_role(user: User, role: str, *, by: User, source: str) -> ModerationAction:
    """Give ``user`` a role, keeping Django's staff/superuser flags and groups in step.

    MODERATOR: staff in the Moderators group (the admin permissions a moderator needs);
    ADMIN: staff and superuser; MEMBER: neither. Only admins may change roles.
    """
    if role not in User.Role.values or role == User.Role.GUEST:
        raise InvalidFieldError("role", "Choose MEMBER, MODERATOR or ADMIN.")
    actor_rank = rules.role_rank(by.role, by.is_superuser)
    if actor_rank < rules.RANK_ADMIN or by.pk == user.pk:
        raise NotAllowedToModerateError("Only admins may change roles, and not their own.")
    old_role = user.role
    user.role = role
    user.is_staff = role in (User.Role.MODERATOR, User.Role.ADMIN)
    user.is_superuser = role == User.Role.ADMIN
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    moderators, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    if role == User.Role.MODERATOR:
        user.groups.add(moderators)
    else:
        user.groups.remove(moderators)
    return _record(
        Action.SET_ROLE, by=by, target=user, source=source, reason=f"{old_role} → {role}"
    )


# --- Tokens (users.tokens says what keeps one good) --------------------------------------


def refresh_token_for(user: User, family: str = "") -> RefreshToken:
    """A refresh token whose access tokens carry the claims clients display, the password
    stamp and the sign-in (``family``; a new sign-in when empty)."""
    token = RefreshToken.for_user(user)
    token["username"] = user.username
    token["role"] = user.role
    token["display_name"] = user.shown_name
    token[tokens.STAMP_CLAIM] = tokens.password_stamp(user)
    token[tokens.FAMILY_CLAIM] = family or str(token[jwt_settings.JTI_CLAIM])
    return token


def issue_tokens(user: User, family: str = "") -> dict[str, str]:
    """A new access/refresh pair for a user who has just proved who they are (a new
    sign-in), or for a sign-in being renewed (``family``)."""
    check_can_log_in(user)
    refresh = refresh_token_for(user, family)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def record_login(user: User) -> None:
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])


def _token_user(token: Any) -> User:
    user = User.objects.filter(pk=token.get(jwt_settings.USER_ID_CLAIM)).first()
    if user is None:
        raise TokenError("The token's user no longer exists.")
    return user


def rotate_refresh_token(raw: str) -> dict[str, str]:
    """Trade a refresh token for a new pair of the same sign-in; the old one is blacklisted
    and cannot be reused.

    The new pair is minted from the current user, so a changed role or name shows at once;
    a token issued before a password change, or of a sign-in that ended, is refused.
    """
    # simplejwt annotates the raw token as a Token and blacklist()'s result as one object.
    old = RefreshToken(raw)  # type: ignore[arg-type]  # checks signature, expiry, blacklist
    user = _token_user(old)
    check_can_log_in(user)
    tokens.check_token_current(user, old)
    _, created = cast(tuple[BlacklistedToken, bool], old.blacklist())
    if not created:  # a concurrent request rotated the same token first
        raise TokenError("Token is blacklisted")
    return issue_tokens(user, tokens.family_of(old))


def revoke_refresh_token(raw: str) -> None:
    """Log out: the refresh token can no longer be used, the access tokens of its sign-in
    are refused, and the sockets opened with them close."""
    token = RefreshToken(raw)  # type: ignore[arg-type]
    token.blacklist()
    family = tokens.family_of(token)
    tokens.revoke_family(family)
    user_id = token.get(jwt_settings.USER_ID_CLAIM)
    if family and user_id is not None:
        transaction.on_commit(
            lambda: sign_in_ended.send(sender=User, user_id=int(user_id), family=family)
        )


def revoke_all_tokens(user: User) -> None:
    """After a password change: every refresh token of ``user`` stops working. (Access
    tokens carry the old password's stamp and are refused by ``check_access_token``.)"""
    tokens.revoke_all_refresh_tokens(user)


def check_access_token(raw: str) -> User:
    """The user an access token is good for now, or TokenError: a refresh token, an unknown,
    disabled or banned user, a token from before a password change or of an ended sign-in
    are all refused."""
    token = AccessToken(raw)  # type: ignore[arg-type]  # signature, expiry and token type
    user = _token_user(token)
    try:
        check_can_log_in(user)
    except DomainError as exc:
        raise TokenError(exc.message) from exc
    tokens.check_token_current(user, token)
    return user
