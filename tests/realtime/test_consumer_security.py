"""Handshake authentication and malformed input through the full ASGI application
(docs/protocol.md, Connecting; docs/security.md, Who is on the other end)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jwt
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from foundation.db import database_sync_to_async
from pianorhythm.asgi import application
from realtime import codec
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.realtime.conftest import ORIGIN, Connect, ConnectUser, Player, with_host
from users.guests import GUEST_COOKIE, guest_cookie_value
from users.models import User
from users.services import issue_tokens

in_thread = database_sync_to_async

Headers = list[tuple[bytes, bytes]]
Handshake = Callable[..., Awaitable[WebsocketCommunicator | None]]

EVIL_ORIGIN = (b"origin", b"https://evil.example.com")


@pytest.fixture
async def handshake(connect: Connect) -> AsyncIterator[Handshake]:
    """Try a handshake; the communicator if accepted, None if refused before accept."""
    opened: list[WebsocketCommunicator] = []

    async def attempt(
        headers: Headers | None = None, path: str = "/ws/"
    ) -> WebsocketCommunicator | None:
        communicator = WebsocketCommunicator(application, path, headers=with_host(headers or []))
        connected, _ = await communicator.connect(timeout=5)
        if not connected:
            return None
        opened.append(communicator)
        return communicator

    yield attempt
    for communicator in opened:
        await communicator.disconnect()


async def welcome_of(communicator: WebsocketCommunicator) -> pb.Welcome:
    frame = json.loads(await communicator.receive_from())
    return pb.Welcome(
        session_id=frame["messages"][0]["welcome"]["sessionId"],
        user=pb.UserInfo(id=frame["messages"][0]["welcome"]["user"]["id"]),
    )


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- credentials ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(user: User, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    payload = {
        "token_type": "access",
        "user_id": str(user.pk),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 300,
        "aud": settings.JWT_AUDIENCE,
        "iss": settings.JWT_ISSUER,
        "pwd": user.get_session_auth_hash(),
        "fam": uuid.uuid4().hex,
    }
    payload.update(changes)
    return payload


def signed(payload: dict[str, Any], key: str | None = None) -> str:
    signing_key = key or str(settings.SIMPLE_JWT["SIGNING_KEY"])
    return jwt.encode(payload, signing_key, algorithm="EdDSA")


def unsigned(payload: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(payload).encode())}."


def hs256_with_public_key(payload: dict[str, Any]) -> str:
    """The algorithm-confusion attack: HMAC keyed with the (public) verifying key."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = f"{header}.{_b64(json.dumps(payload).encode())}"
    key = str(settings.SIMPLE_JWT["VERIFYING_KEY"]).encode()
    signature = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def other_key() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def bearer(token: str) -> Headers:
    return [ORIGIN, (b"authorization", f"Bearer {token}".encode())]


@pytest.fixture
async def account(make_user: Callable[..., User], fast_passwords: None) -> User:
    user: User = await in_thread(make_user)()
    return user


async def test_forged_token_helper_makes_tokens_the_server_accepts(
    handshake: Handshake, account: User
) -> None:
    """The control for the refusals below: a well-formed token built the same way works."""
    communicator = await handshake(bearer(signed(claims(account))))
    assert communicator is not None
    assert (await welcome_of(communicator)).user.id == str(account.pk)


async def test_bearer_access_token_identifies_the_user(
    connect_user: ConnectUser, account: User
) -> None:
    player = await connect_user(account)
    assert player.user is not None
    assert (player.user.id, player.user.username) == (str(account.pk), account.username)
    assert not player.user.is_guest


async def test_bearer_token_works_without_an_origin_header(
    handshake: Handshake, account: User
) -> None:
    tokens = await in_thread(issue_tokens)(account)
    headers = [(b"authorization", f"Bearer {tokens['access']}".encode())]
    assert await handshake(headers) is not None


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda u: signed(claims(u, exp=int(time.time()) - 60)), id="expired"),
        pytest.param(lambda u: "not.a.jwt", id="garbage"),
        pytest.param(lambda u: "x" * 5000, id="huge-garbage"),
        pytest.param(lambda u: signed(claims(u, aud="someone-else")), id="wrong-audience"),
        pytest.param(lambda u: signed(claims(u, iss="someone-else")), id="wrong-issuer"),
        pytest.param(lambda u: signed(claims(u), key=other_key()), id="wrong-key"),
        pytest.param(lambda u: unsigned(claims(u)), id="alg-none"),
        pytest.param(lambda u: hs256_with_public_key(claims(u)), id="hs256-public-key"),
        pytest.param(lambda u: signed(claims(u, token_type="refresh")), id="refresh-token"),
        pytest.param(lambda u: signed(claims(u, user_id="999999")), id="unknown-user"),
    ],
)
async def test_bad_bearer_tokens_are_refused_before_accept(
    handshake: Handshake,
    account: User,
    caplog: pytest.LogCaptureFixture,
    make_token: Callable[[User], str],
) -> None:
    caplog.set_level(logging.DEBUG)
    token = make_token(account)
    assert await handshake(bearer(token)) is None
    assert no_errors_logged(caplog)
    assert token not in caplog.text


@pytest.mark.parametrize("value", [b"Basic dXNlcjpwYXNz", b"Bearer", b"Bearer    ", b"Token abc"])
async def test_malformed_authorization_header_is_refused(
    handshake: Handshake, value: bytes
) -> None:
    assert await handshake([ORIGIN, (b"authorization", value)]) is None


async def test_token_of_a_deactivated_user_is_refused(handshake: Handshake, account: User) -> None:
    token = signed(claims(account))
    account.is_active = False
    await in_thread(account.save)()
    assert await handshake(bearer(token)) is None


async def test_bearer_token_with_a_foreign_origin_is_refused(
    handshake: Handshake, account: User
) -> None:
    headers = [EVIL_ORIGIN, (b"authorization", f"Bearer {signed(claims(account))}".encode())]
    assert await handshake(headers) is None


# --- session cookie and Origin ----------------------------------------------------


@sync_to_async
def logged_in_cookie(user: User) -> bytes:
    browser = Client()
    browser.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={browser.cookies[name].value}".encode()


async def test_session_cookie_with_our_origin_identifies_the_user(
    handshake: Handshake, account: User
) -> None:
    cookie = await logged_in_cookie(account)
    communicator = await handshake([ORIGIN, (b"cookie", cookie)])
    assert communicator is not None
    assert (await welcome_of(communicator)).user.id == str(account.pk)


@pytest.mark.parametrize(
    "origin",
    [
        [EVIL_ORIGIN],
        [(b"origin", b"null")],
        [],
        [(b"origin", b"http://127.0.0.1.evil.example.com")],
        [(b"origin", b"not a url")],
    ],
    ids=["cross-site", "null", "missing", "lookalike", "junk"],
)
async def test_session_cookie_without_our_origin_is_refused(
    handshake: Handshake,
    account: User,
    origin: Headers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cookie = await logged_in_cookie(account)
    assert await handshake([*origin, (b"cookie", cookie)]) is None
    assert no_errors_logged(caplog)


async def test_guest_with_the_pages_guest_cookie_keeps_its_guest_id(handshake: Handshake) -> None:
    cookie = f"{GUEST_COOKIE}={guest_cookie_value('g-0123456789abcdef')}".encode()
    for _ in range(2):
        communicator = await handshake([ORIGIN, (b"cookie", cookie)])
        assert communicator is not None
        assert (await welcome_of(communicator)).user.id == "g-0123456789abcdef"


@pytest.mark.parametrize("value", ["g-0123456789abcdef", "g-0123456789abcdef:forged", "junk"])
async def test_forged_guest_cookie_gets_a_new_guest(handshake: Handshake, value: str) -> None:
    communicator = await handshake([ORIGIN, (b"cookie", f"{GUEST_COOKIE}={value}".encode())])
    assert communicator is not None
    guest_id = (await welcome_of(communicator)).user.id
    assert guest_id.startswith("g-")
    assert guest_id != "g-0123456789abcdef"


async def test_guest_without_credentials_gets_a_guest_identity(connect: Connect) -> None:
    player = await connect(headers=[])
    assert player.user is not None
    assert player.user.is_guest
    assert player.user.id.startswith("g-")


async def test_guests_are_refused_when_guests_are_not_allowed(
    handshake: Handshake, account: User, settings: Any
) -> None:
    settings.GUESTS_ALLOWED = False
    assert await handshake([ORIGIN]) is None
    assert await handshake([]) is None
    assert await handshake(bearer(signed(claims(account)))) is not None


# --- tickets ------------------------------------------------------------------


@sync_to_async
def ticket_for(user: User) -> str:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)['access']}")
    response = client.post("/api/v1/realtime/tickets")
    assert response.status_code == 201, response.content
    return str(response.json()["ticket"])


async def test_ticket_works_once(
    handshake: Handshake, account: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ticket = await ticket_for(account)
    communicator = await handshake([ORIGIN], path=f"/ws/?ticket={ticket}")
    assert communicator is not None
    assert (await welcome_of(communicator)).user.id == str(account.pk)
    assert await handshake([ORIGIN], path=f"/ws/?ticket={ticket}") is None
    assert ticket not in caplog.text


@pytest.mark.parametrize("ticket", ["", "made-up", "x" * 200])
async def test_unknown_tickets_are_refused(handshake: Handshake, ticket: str) -> None:
    assert await handshake([ORIGIN], path=f"/ws/?ticket={ticket}") is None


async def test_ticket_with_a_foreign_origin_is_refused(handshake: Handshake, account: User) -> None:
    ticket = await ticket_for(account)
    assert await handshake([EVIL_ORIGIN], path=f"/ws/?ticket={ticket}") is None


async def test_ticket_of_a_user_deactivated_since_is_refused(
    handshake: Handshake, account: User
) -> None:
    ticket = await ticket_for(account)
    account.is_active = False
    await in_thread(account.save)()
    assert await handshake([ORIGIN], path=f"/ws/?ticket={ticket}") is None


# --- paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/ws/nope/",
        "/",
        "/ws",
        "/api/v1/rooms/",
        "/ws/<script>alert(1)</script>/",
        "/ws/" + "a" * 10_240,
        "/ws/?x=" + "a" * 10_240,
        "/%00/",
    ],
    ids=["unknown", "root", "no-slash", "http-route", "script", "10k-path", "10k-query", "nul"],
)
async def test_unknown_or_hostile_paths_are_refused_without_a_traceback(
    handshake: Handshake, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert await handshake([ORIGIN], path=path) is None
    assert no_errors_logged(caplog)


async def test_10k_room_name_is_refused_without_a_traceback(
    connect_user: ConnectUser, caplog: pytest.LogCaptureFixture
) -> None:
    player = await connect_user()
    name = "<script>" + "a" * 10_240
    # No such room could exist: the name is refused as a name before it is looked up.
    await player.send(join_room=pb.JoinRoom(room_name=name))
    assert (await player.expect("error")).code == pb.ERROR_CODE_INVALID_ARGUMENT
    await player.send(join_room=pb.JoinRoom(room_name=name, create_if_missing=True))
    assert (await player.expect("error")).code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert no_errors_logged(caplog)


# --- malformed frames ----------------------------------------------------------

JSON_BAD_FRAMES = {
    "invalid-json": "{not json",
    "wrong-type": '{"joinRoom": {"roomName": 5}}',
    "wrong-type-number": '{"cursor": {"x": "far left"}}',
    "negative-unsigned": '{"moderate": {"durationSeconds": -1}}',
    "unknown-message": '{"danceParty": {}}',
    "unknown-field": '{"chat": {"text": "hi", "html": "<b>"}}',
    "empty-object": "{}",
    "array": "[]",
    "two-messages": '{"chat": {"text": "a"}, "cursor": {"x": 1}}',
    "deep-nesting": "[" * 50_000,
    "null": "null",
}


@pytest.mark.parametrize("frame", list(JSON_BAD_FRAMES.values()), ids=list(JSON_BAD_FRAMES))
async def test_bad_json_frames_get_bad_message_and_the_socket_lives(
    connect: Connect, frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    player = await connect(encoding=codec.Encoding.JSON)
    await player.ws.send_to(text_data=frame)
    error = await player.expect("error")
    assert error.code == pb.ERROR_CODE_BAD_MESSAGE
    await assert_still_serves(player)
    assert no_errors_logged(caplog)


PROTO_BAD_FRAMES = {
    "truncated": pb.ClientMessage(
        join_room=pb.JoinRoom(room_name="a room with a long name")
    ).SerializeToString()[:-5],
    "garbage": b"\xff\xfe\xfd\xfc" * 8,
    "empty-message": pb.ClientMessage().SerializeToString() or b"\x00",
    "wrong-wire-type": b"\x0d\x00\x00\x00\x00",  # field 1 as fixed32
    "unknown-field-only": b"\xf8\x07\x01",  # field 127 varint: no known message
}


@pytest.mark.parametrize("frame", list(PROTO_BAD_FRAMES.values()), ids=list(PROTO_BAD_FRAMES))
async def test_bad_binary_frames_get_bad_message_and_the_socket_lives(
    connect: Connect, frame: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    player = await connect()
    await player.ws.send_to(bytes_data=frame)
    error = await player.expect("error")
    assert error.code == pb.ERROR_CODE_BAD_MESSAGE
    await assert_still_serves(player)
    assert no_errors_logged(caplog)


async def test_frame_of_the_wrong_kind_gets_bad_message(connect: Connect) -> None:
    json_player = await connect(encoding=codec.Encoding.JSON)
    await json_player.ws.send_to(bytes_data=b'{"timeSync": {"clientTime": 1}}')
    assert (await json_player.expect("error")).code == pb.ERROR_CODE_BAD_MESSAGE
    proto_player = await connect()
    await proto_player.ws.send_to(text_data='{"timeSync": {"clientTime": 1}}')
    assert (await proto_player.expect("error")).code == pb.ERROR_CODE_BAD_MESSAGE


async def test_no_subprotocol_means_json(handshake: Handshake) -> None:
    communicator = await handshake([ORIGIN])
    assert communicator is not None
    await welcome_of(communicator)
    await communicator.send_to(text_data='{"timeSync": {"clientTime": 7}}')
    reply = json.loads(await communicator.receive_from())
    assert reply["messages"][0]["timeSync"]["clientTime"] == 7


async def test_ten_bad_frames_close_the_socket_with_4400(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    player = await connect()
    for _ in range(10):
        await player.ws.send_to(bytes_data=b"\xff\xff")
    assert await player.expect_close() == 4400
    errors = [m.error.code for m in player.seen if m.HasField("error")]
    assert errors == [pb.ERROR_CODE_BAD_MESSAGE] * 9
    assert no_errors_logged(caplog)


async def assert_still_serves(player: Player) -> None:
    await player.send(time_sync=pb.TimeSync(client_time=42))
    assert (await player.expect("time_sync")).client_time == 42


@pytest.mark.parametrize("value", ["garbage-session-key", "k" * 10_240, "<script>x</script>"])
async def test_unknown_session_cookie_is_a_guest_not_an_error(
    handshake: Handshake, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    headers = [ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={value}".encode())]
    communicator = await handshake(headers)
    assert communicator is not None
    assert (await welcome_of(communicator)).user.id.startswith("g-")
    assert no_errors_logged(caplog)


async def test_guest_with_a_foreign_origin_is_refused(handshake: Handshake) -> None:
    assert await handshake([EVIL_ORIGIN]) is None


@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:6666",  # another port of the same host: another site
        b"https://127.0.0.1:8000",  # another scheme
        b"http://localhost:8000",  # an allowed host, but not the one the socket is for
        b"http://127.0.0.1",  # the default port is another port
    ],
)
async def test_session_cookie_from_another_origin_of_an_allowed_host_is_refused(
    handshake: Handshake, account: User, origin: bytes
) -> None:
    cookie = await logged_in_cookie(account)
    assert await handshake([(b"origin", origin), (b"cookie", cookie)]) is None


async def test_allowed_hosts_wildcard_does_not_open_the_origin_check(
    handshake: Handshake, account: User, settings: Any
) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    cookie = await logged_in_cookie(account)
    assert await handshake([EVIL_ORIGIN, (b"cookie", cookie)]) is None
    assert await handshake([ORIGIN, (b"cookie", cookie)]) is not None


async def test_csrf_trusted_origins_may_open_sockets_with_the_session_cookie(
    handshake: Handshake, account: User, settings: Any
) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://play.example.com", "https://*.example.org"]
    cookie = await logged_in_cookie(account)
    for origin in (b"https://play.example.com", b"https://eu.example.org"):
        assert await handshake([(b"origin", origin), (b"cookie", cookie)]) is not None
    for origin in (b"http://play.example.com", b"https://example.org.evil.com"):
        assert await handshake([(b"origin", origin), (b"cookie", cookie)]) is None


async def test_origin_behind_a_tls_proxy_is_https_when_the_proxy_says_so(
    handshake: Handshake, account: User, settings: Any
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    cookie = await logged_in_cookie(account)
    proxied = [(b"x-forwarded-proto", b"https"), (b"cookie", cookie)]
    assert await handshake([(b"origin", b"https://127.0.0.1:8000"), *proxied]) is not None
    assert await handshake([(b"origin", b"http://127.0.0.1:8000"), *proxied]) is None


# --- text no lookup can take (red team 3) -------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        {"join_room": pb.JoinRoom(room_name="abc\x00def")},
        {"join_room": pb.JoinRoom(room_name="x" * 50_001)},
        {"join_room": pb.JoinRoom(room_name="ok", password="pass\x00word")},
        {"room_list": pb.SubscribeRoomList(subscribe=True, query="a\x00")},
        {"update_profile": pb.UpdateProfile(display_name="Bo\x00b")},
    ],
    ids=["room name", "a 50,001-character room name", "password", "room search", "name"],
)
async def test_text_with_a_null_character_or_far_too_long_is_an_invalid_argument(
    connect: Connect, caplog: pytest.LogCaptureFixture, message: dict[str, Any]
) -> None:
    player = await connect()
    with caplog.at_level(logging.WARNING):
        await player.send(**message)
        error = await player.expect("error")
    assert error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_moderation_reason_with_a_null_character_is_an_invalid_argument(
    connect_user: ConnectUser,
) -> None:
    owner, visitor = await connect_user(), await connect_user()
    await owner.join("nul", create_if_missing=True)
    await visitor.join("nul")
    assert visitor.user is not None
    kick = pb.Moderate(action=pb.MODERATION_ACTION_KICK, target_user_id=visitor.user.id)
    kick.reason = "bye\x00"
    await owner.send(moderate=kick)
    assert (await owner.expect("error")).code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert not [m for m in await visitor.drain(0.1) if m.HasField("removed")]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/rooms/?search=a%00b",
        "/api/v1/users/ab%00c",
        "/api/v1/users/ab%00c/stats",
        "/rooms/?q=%00",
    ],
)
def test_a_null_character_in_the_address_is_a_400(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 400
    if path.startswith("/api/"):
        assert response.json()["code"] == "INVALID_ARGUMENT"
