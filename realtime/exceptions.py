"""Errors of the real-time protocol layer."""

from __future__ import annotations

from foundation.exceptions import DomainError
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb


class ProtocolError(DomainError):
    """A client frame or message the server refuses, answered with ``error{code, message}``.

    ``code`` is an ``ErrorCode`` short name ("BAD_MESSAGE", "INVALID_ARGUMENT", ...), the
    same spelling as every other ``DomainError.code``; ``error_code`` is the protocol enum
    value. The codec raises it with BAD_MESSAGE for frames that cannot be decoded (the ones
    the socket's malformed-frame counter cares about); message validation raises it with
    INVALID_ARGUMENT for well-formed messages whose values are out of bounds.
    """

    http_status = 400

    def __init__(self, code: str, message: str) -> None:
        # Fails loudly on a misspelt code, at the raise site rather than at the edge.
        self.error_code: int = pb.ErrorCode.Value("ERROR_CODE_" + code)
        super().__init__(message)
        self.code = code


class ClientGoneError(Exception):
    """A send to a socket whose client has already gone: nothing is wrong with the server,
    and its disconnect is on the way."""
