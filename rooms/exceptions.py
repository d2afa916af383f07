"""Domain errors of the rooms app.

``code`` matches the protocol's ErrorCode names (docs/protocol.md, Error codes) where one
exists, so the real-time layer can send it as is; the REST edge uses ``http_status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from foundation.exceptions import (
    DomainError,
    ForbiddenError,
    InvalidArgumentError,
    NotFoundError,
    RateLimitedError,
)


class RoomNotFoundError(NotFoundError):
    code = "ROOM_NOT_FOUND"
    default_message = "There is no such room."


class RoomFullError(DomainError):
    code = "ROOM_FULL"
    http_status = 409
    default_message = "The room is full."


class WrongPasswordError(DomainError):
    code = "WRONG_PASSWORD"
    http_status = 403
    default_message = "Wrong room password."


class PasswordGuessesError(RateLimitedError):
    default_message = "Too many wrong passwords; wait a minute and try again."


class BannedError(DomainError):
    code = "BANNED"
    http_status = 403
    default_message = "You are banned from this room."

    def __init__(self, message: str | None = None, *, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until


class GuestsNotAllowedError(DomainError):
    code = "GUESTS_NOT_ALLOWED"
    http_status = 403
    default_message = "This room is for registered players only."


class ChatDisabledError(DomainError):
    code = "CHAT_DISABLED"
    http_status = 403
    default_message = "Chat is disabled in this room."


class MutedError(DomainError):
    code = "MUTED"
    http_status = 403
    default_message = "You are muted in this room."


class RoomForbiddenError(ForbiddenError):
    default_message = "Only the room owner or a moderator may do that."


class LobbyProtectedError(ForbiddenError):
    default_message = "The lobby cannot be closed or given an owner."


class RoomNameTakenError(DomainError):
    code = "ROOM_NAME_TAKEN"
    http_status = 409
    default_message = "A room with that name already exists."


class InvalidRoomSettingsError(InvalidArgumentError):
    """Settings that break the rules, with one message per field in ``fields``."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)
        super().__init__("; ".join(f"{name}: {msg}" for name, msg in self.fields.items()))


class InvalidChatMessageError(InvalidArgumentError):
    default_message = "The message is not valid."


class BanNotFoundError(NotFoundError):
    default_message = "That player is not banned from this room."


class RoomLimitReachedError(ForbiddenError):
    code = "ROOM_LIMIT_REACHED"
    default_message = "You own as many rooms as an account may; close one to open another."
