"""The handler table covers the protocol: every request a client can send has a handler."""

from __future__ import annotations

from realtime import handlers
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb


def _client_message_kinds() -> set[str]:
    return {field.name for field in pb.ClientMessage.DESCRIPTOR.oneofs_by_name["kind"].fields}


def test_every_client_message_has_a_handler_and_no_handler_is_left_over() -> None:
    assert set(handlers.HANDLERS) == _client_message_kinds()


def test_request_budgets_name_only_client_messages() -> None:
    kinds = _client_message_kinds()
    assert handlers.COSTLY_REQUESTS.issubset(kinds)
    assert handlers.TEXT_REQUESTS.issubset(kinds)
    assert handlers.ANYONES_REQUESTS.issubset(handlers.COSTLY_REQUESTS)
