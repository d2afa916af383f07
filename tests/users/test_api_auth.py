"""The token endpoints: EdDSA tokens, forged and stale tokens refused, rotation, throttling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from moderation.models import ModerationAction
from users import services
from users.models import User

from .conftest import PASSWORD, bearer

ME = "/api/v1/users/me"
JWT: dict[str, Any] = settings.SIMPLE_JWT


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user: User, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": "f" * 32,
        "user_id": str(user.pk),
        "aud": JWT["AUDIENCE"],
        "iss": JWT["ISSUER"],
        "pwd": user.get_session_auth_hash(),
        "fam": "e" * 32,
    }
    return {**claims, **overrides}


def _signed(claims: dict[str, Any]) -> str:
    """A token signed with the real private key."""
    return jwt.encode(claims, JWT["SIGNING_KEY"], algorithm="EdDSA")


def _unsigned(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    if secret is None:
        return head + "."
    return head + "." + _b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())


def test_register_returns_the_user_and_a_token_pair(db: None, api_client: APIClient) -> None:
    response = api_client.post(
        "/api/v1/auth/register",
        {"username": "keys", "password": PASSWORD, "display_name": "Keys", "email": "k@e.com"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["user"]["username"] == "keys"
    assert body["user"]["role"] == "MEMBER"
    assert bearer(body["access"]).get(ME).json()["display_name"] == "Keys"


def test_register_reports_bad_fields(api_client: APIClient, make_user: Callable[..., User]) -> None:
    make_user("Taken")
    response = api_client.post(
        "/api/v1/auth/register",
        {"username": "taken", "password": "123", "display_name": "a\u202eb"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_ARGUMENT"
    assert set(body["fields"]) == {"display_name"}  # checked first; the rest after


def test_register_refuses_a_taken_name_in_another_case(
    api_client: APIClient, make_user: Callable[..., User]
) -> None:
    make_user("Taken")
    response = api_client.post(
        "/api/v1/auth/register", {"username": "tAKEN", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()["fields"]


def test_access_token_is_eddsa_and_verifies_with_the_public_key(
    make_user: Callable[..., User], obtain: Callable[..., Any]
) -> None:
    user = make_user("alice", display_name="Alice")
    response = obtain("alice")
    assert response.status_code == 200
    access = response.json()["access"]
    assert jwt.get_unverified_header(access)["alg"] == "EdDSA"
    claims = jwt.decode(
        access,
        JWT["VERIFYING_KEY"],
        algorithms=["EdDSA"],
        audience=JWT["AUDIENCE"],
        issuer=JWT["ISSUER"],
    )
    assert claims["user_id"] == str(user.pk)
    assert (claims["username"], claims["role"], claims["display_name"]) == (
        "alice",
        "MEMBER",
        "Alice",
    )
    assert bearer(access).get(ME).status_code == 200


def test_wrong_password_is_401(make_user: Callable[..., User], obtain: Callable[..., Any]) -> None:
    make_user("alice")
    response = obtain("alice", "wrong-password")
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"


def test_hs256_token_signed_with_the_public_key_is_refused(
    make_user: Callable[..., User],
) -> None:
    user = make_user()
    secret = JWT["VERIFYING_KEY"].encode()
    forged = _unsigned({"alg": "HS256", "typ": "JWT"}, _claims(user), secret)
    response = bearer(forged).get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"


def test_alg_none_token_is_refused(make_user: Callable[..., User]) -> None:
    forged = _unsigned({"alg": "none", "typ": "JWT"}, _claims(make_user()), None)
    assert bearer(forged).get(ME).status_code == 401


def test_expired_token_is_refused(make_user: Callable[..., User]) -> None:
    user = make_user()
    past = int(time.time()) - 600
    assert bearer(_signed(_claims(user))).get(ME).status_code == 200  # the forgery kit works
    assert bearer(_signed(_claims(user, exp=past, iat=past - 300))).get(ME).status_code == 401


def test_wrong_audience_is_refused(make_user: Callable[..., User]) -> None:
    token = _signed(_claims(make_user(), aud="someone-else"))
    assert bearer(token).get(ME).status_code == 401


def test_token_signed_with_another_key_is_refused(make_user: Callable[..., User]) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = jwt.encode(_claims(make_user()), other, algorithm="EdDSA")
    assert bearer(token).get(ME).status_code == 401


def test_refresh_rotates_and_blacklists_the_old_token(
    make_user: Callable[..., User], obtain: Callable[..., Any], api_client: APIClient
) -> None:
    make_user("alice")
    first = obtain("alice").json()["refresh"]
    response = api_client.post("/api/v1/auth/token/refresh", {"refresh": first}, format="json")
    assert response.status_code == 200
    pair = response.json()
    assert pair["refresh"] != first
    assert bearer(pair["access"]).get(ME).status_code == 200
    again = api_client.post("/api/v1/auth/token/refresh", {"refresh": first}, format="json")
    assert again.status_code == 401
    fresh = api_client.post(
        "/api/v1/auth/token/refresh", {"refresh": pair["refresh"]}, format="json"
    )
    assert fresh.status_code == 200


def test_refresh_carries_the_current_role(
    make_user: Callable[..., User],
    obtain: Callable[..., Any],
    api_client: APIClient,
    superuser: User,
) -> None:
    user = make_user("alice")
    refresh = obtain("alice").json()["refresh"]
    services.set_role(user, User.Role.MODERATOR, by=superuser, source="API")
    access = api_client.post(
        "/api/v1/auth/token/refresh", {"refresh": refresh}, format="json"
    ).json()["access"]
    assert jwt.decode(access, options={"verify_signature": False})["role"] == "MODERATOR"


def test_verify_accepts_good_and_refuses_forged_tokens(
    make_user: Callable[..., User], obtain: Callable[..., Any], api_client: APIClient
) -> None:
    make_user("alice")
    access = obtain("alice").json()["access"]
    url = "/api/v1/auth/token/verify"
    assert api_client.post(url, {"token": access}, format="json").status_code == 200
    tampered = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    assert api_client.post(url, {"token": tampered}, format="json").status_code == 401


def test_logout_blacklists_the_refresh_token(
    make_user: Callable[..., User], obtain: Callable[..., Any], api_client: APIClient
) -> None:
    make_user("alice")
    refresh = obtain("alice").json()["refresh"]
    response = api_client.post("/api/v1/auth/logout", {"refresh": refresh}, format="json")
    assert response.status_code == 204
    again = api_client.post("/api/v1/auth/token/refresh", {"refresh": refresh}, format="json")
    assert again.status_code == 401


def test_eleventh_login_attempt_in_a_minute_is_throttled(
    make_user: Callable[..., User], obtain: Callable[..., Any]
) -> None:
    make_user("alice")
    make_user("bob")
    statuses = [obtain("alice", f"guess-{n}").status_code for n in range(9)]
    assert statuses == [401] * 9
    assert obtain("bob").status_code == 200  # the tenth attempt, a right one
    response = obtain("bob")  # even the right password: the budget is spent
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["retry_after"] > 0
    # Another address has its own budget (alice's account is not locked: 9 failures).
    assert obtain("alice", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_banned_user_gets_site_banned_with_the_end(
    make_user: Callable[..., User], obtain: Callable[..., Any], superuser: User
) -> None:
    user = make_user("alice")
    services.site_ban(
        user,
        by=superuser,
        duration=timedelta(days=1),
        reason="spam",
        source=ModerationAction.Source.API,
    )
    response = obtain("alice")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "SITE_BANNED"
    assert user.banned_until is not None
    assert body["until"] == user.banned_until.isoformat()
    assert body["reason"] == "spam"


def test_banned_user_with_wrong_password_learns_nothing(
    make_user: Callable[..., User], obtain: Callable[..., Any], superuser: User
) -> None:
    user = make_user("alice")
    services.site_ban(user, by=superuser, reason="spam", source=ModerationAction.Source.API)
    assert obtain("alice", "wrong-password").status_code == 401


def test_ban_refuses_existing_access_and_refresh_tokens(
    make_user: Callable[..., User],
    obtain: Callable[..., Any],
    api_client: APIClient,
    superuser: User,
) -> None:
    user = make_user("alice")
    pair = obtain("alice").json()
    services.site_ban(user, by=superuser, reason="spam", source=ModerationAction.Source.API)
    response = bearer(pair["access"]).get(ME)
    assert response.status_code == 401
    assert "banned" in response.json()["message"]
    refreshed = api_client.post(
        "/api/v1/auth/token/refresh", {"refresh": pair["refresh"]}, format="json"
    )
    assert refreshed.status_code == 403
    assert refreshed.json()["code"] == "SITE_BANNED"
    assert refreshed.json()["until"] is None


def test_deactivated_user_token_is_refused(
    make_user: Callable[..., User], obtain: Callable[..., Any]
) -> None:
    user = make_user("alice")
    access = obtain("alice").json()["access"]
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert bearer(access).get(ME).status_code == 401


@pytest.mark.parametrize("body", [{}, {"refresh": "garbage"}])
def test_logout_with_a_bad_token_is_an_error(
    db: None, api_client: APIClient, body: dict[str, str]
) -> None:
    response = api_client.post("/api/v1/auth/logout", body, format="json")
    assert response.status_code in (400, 401)
    assert "code" in response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auth/token",
        "/api/v1/auth/register",
        "/api/v1/auth/token/refresh",
        "/api/v1/auth/token/verify",
        "/api/v1/auth/logout",
        "/api/v1/rooms/",
    ],
)
def test_deeply_nested_json_body_is_a_400_not_a_500(
    make_user: Callable[..., User], path: str
) -> None:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(make_user())  # signed in, so that rooms/ reads the body
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
