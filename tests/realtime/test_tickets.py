from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from realtime import tickets
from users.models import User

GRANT = tickets.TicketGrant(user_id=42, stamp="s", token_family="f")


def test_ticket_works_once(db: None) -> None:
    ticket = tickets.issue_ticket(GRANT)
    assert tickets.redeem_ticket(ticket) == GRANT
    assert tickets.redeem_ticket(ticket) is None


def test_unknown_and_oversized_tickets_are_refused(db: None) -> None:
    assert tickets.redeem_ticket("not-a-ticket") is None
    assert tickets.redeem_ticket("x" * 10_000) is None
    assert tickets.redeem_ticket("") is None


async def test_async_redeem_is_single_use_too() -> None:
    ticket = tickets.issue_ticket(GRANT)
    assert await tickets.aredeem_ticket(ticket) == GRANT
    assert await tickets.aredeem_ticket(ticket) is None


def test_expired_ticket_is_refused(monkeypatch: pytest.MonkeyPatch, db: None) -> None:
    monkeypatch.setattr(tickets, "TICKET_SECONDS", 0.05)
    ticket = tickets.issue_ticket(GRANT)
    import time

    time.sleep(0.1)
    assert tickets.redeem_ticket(ticket) is None


def test_ticket_endpoint_needs_authentication(api_client: APIClient, db: None) -> None:
    response = api_client.post("/api/v1/realtime/tickets")
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"


def test_ticket_endpoint_issues_a_redeemable_ticket(
    make_user: Callable[..., User], authed_client: Callable[[User | None], APIClient]
) -> None:
    user = make_user()
    response = authed_client(user).post("/api/v1/realtime/tickets")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["expires_in"] == 30
    grant = tickets.redeem_ticket(body["ticket"])
    assert grant is not None
    assert grant.user_id == user.pk
