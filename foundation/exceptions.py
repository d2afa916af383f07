"""The base of every domain error.

Services raise subclasses (``rooms.exceptions``, ``users.exceptions``); the REST API maps
them to an HTTP status and the real-time layer to a protocol ``ErrorCode``, each in one
place at its edge. ``code`` is the stable, machine-readable name shared by both.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


class DomainError(Exception):
    code = "INVALID_ARGUMENT"
    http_status = 400
    default_message = "The request is not valid."
    #: What is wrong with each field of the request, when the error is about particular
    #: fields (field name -> message for people); the socket sends it as ``Error.fields``
    #: (docs/protocol.md). Empty for most errors.
    fields: Mapping[str, str] = MappingProxyType({})

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidArgumentError(DomainError):
    code = "INVALID_ARGUMENT"
    http_status = 400
    default_message = "The request is not valid."


class ForbiddenError(DomainError):
    code = "FORBIDDEN"
    http_status = 403
    default_message = "You are not allowed to do that."


class NotFoundError(DomainError):
    code = "NOT_FOUND"
    http_status = 404
    default_message = "Not found."


class RateLimitedError(DomainError):
    code = "RATE_LIMITED"
    http_status = 429
    default_message = "Too many attempts; wait a moment and try again."


class UnauthenticatedError(DomainError):
    code = "UNAUTHENTICATED"
    http_status = 401
    default_message = "Sign in first."
