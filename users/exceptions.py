"""Domain errors of the users app, mapped to HTTP statuses and codes at the REST edge."""

from __future__ import annotations

from datetime import UTC, datetime

from foundation.exceptions import DomainError, ForbiddenError, InvalidArgumentError


class InvalidFieldError(InvalidArgumentError):
    """A registration or profile field has a bad value; ``field`` names it."""

    def __init__(self, field: str, messages: str | list[str]) -> None:
        self.field = field
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__(" ".join(self.messages))


class UsernameTakenError(InvalidFieldError):
    def __init__(self) -> None:
        super().__init__("username", "That username is taken.")


class SiteBannedError(DomainError):
    """The account is banned from the whole site; ``until`` is None for a permanent ban."""

    code = "SITE_BANNED"
    http_status = 403

    def __init__(self, until: datetime | None, reason: str = "") -> None:
        self.until = until
        self.reason = reason
        when = f"until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if until else "permanently"
        because = f" Reason: {reason}" if reason else ""
        super().__init__(f"This account is banned {when}.{because}")


class AccountInactiveError(ForbiddenError):
    code = "ACCOUNT_INACTIVE"
    default_message = "This account is disabled."


class NotAllowedToModerateError(ForbiddenError):
    """The actor may not ban, unban or change the role of this user."""
