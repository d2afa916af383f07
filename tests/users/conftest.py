"""Fixtures of the users tests: a superuser (to hand out roles) and token helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from users.models import User

PASSWORD = "a-long-passphrase-1"


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root-admin", "root@example.com", PASSWORD)


@pytest.fixture
def obtain(api_client: APIClient) -> Callable[..., Any]:
    """POST credentials to the token endpoint; returns the response."""

    def post(username: str, password: str = PASSWORD, **extra: Any) -> Any:
        return api_client.post(
            "/api/v1/auth/token",
            {"username": username, "password": password},
            format="json",
            **extra,
        )

    return post


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
