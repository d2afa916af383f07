"""Pure rules of the analytics app: redaction, /metrics access, the rolling counter."""

from __future__ import annotations

import pytest

from observability import access
from observability.redaction import MASK, is_secret_key, redact
from observability.rolling import RollingCounter

JWT = "eyJhbGciOiJFZERTQSJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /ws/?ticket=tk_abcdef123&x=1", "tk_abcdef123"),
        ("Authorization: Bearer opaque-token-123", "opaque-token-123"),
        (f"header {JWT} seen", JWT.split(".")[1]),
        ("{'username': 'bob', 'password': 'hunter2!'}", "hunter2!"),
        ('{"password1": "s3cret pass", "ok": 1}', "s3cret pass"),
        ('{"chat": {"text": "meet me at \\"noon\\""}}', "noon"),
        ('chat { text: "private words" }', "private words"),
        ("password=hunter2&username=bob", "hunter2"),
        ("refresh=abc.def.ghi", "abc.def.ghi"),
        ("Cookie: sessionid=9f8e7d6c5b", "9f8e7d6c5b"),
    ],
)
def test_redact_removes_secret(text: str, secret: str) -> None:
    redacted = redact(text)
    assert secret not in redacted
    assert MASK in redacted


def test_redact_keeps_ordinary_text() -> None:
    line = "GET /api/v1/rooms/?page=2 200 context=lobby"
    assert redact(line) == line


def test_secret_keys_are_recognised() -> None:
    assert is_secret_key("new_password")
    assert is_secret_key("Authorization")
    assert not is_secret_key("room")


def test_client_address_ignores_forwarded_for_without_proxies() -> None:
    assert access.client_address("10.0.0.5", "127.0.0.1", 0) == "10.0.0.5"


def test_client_address_falls_back_to_the_peer_when_the_forwarded_one_is_junk() -> None:
    assert access.client_address("10.0.0.1", "1.2.3.4, not-an-address", 1) == "10.0.0.1"
    assert access.client_address("10.0.0.1", "unknown", 1) == "10.0.0.1"


def test_client_address_takes_the_address_the_trusted_proxy_saw() -> None:
    assert access.client_address("10.0.0.1", "1.2.3.4, 127.0.0.1, 10.9.9.9", 1) == "10.9.9.9"
    assert access.client_address("10.0.0.1", "1.2.3.4, 5.6.7.8", 2) == "1.2.3.4"


def test_address_allowed_understands_networks_and_mapped_ipv4() -> None:
    networks = access.parse_networks(["127.0.0.1", "::1", "10.0.0.0/8"])
    assert access.address_allowed("10.20.30.40", networks)
    assert access.address_allowed("::ffff:127.0.0.1", networks)
    assert access.address_allowed("::1", networks)
    assert not access.address_allowed("192.168.1.1", networks)
    assert not access.address_allowed("not-an-ip", networks)


def test_parse_networks_names_a_bad_entry() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        access.parse_networks(["127.0.0.1", "10.0.0.300"])


def test_bearer_token_matches_only_the_exact_token() -> None:
    assert access.bearer_token_matches("Bearer s3cret-token", "s3cret-token")
    assert access.bearer_token_matches("bearer s3cret-token", "s3cret-token")
    assert not access.bearer_token_matches("Bearer s3cret-tokeN", "s3cret-token")
    assert not access.bearer_token_matches("Basic s3cret-token", "s3cret-token")
    assert not access.bearer_token_matches("Bearer ", "")


def test_rolling_counter_counts_the_last_minute_only() -> None:
    counter = RollingCounter(60)
    counter.add(30, now=1000.2)
    counter.add(30, now=1030.9)
    assert counter.total(now=1031.0) == 60
    assert counter.per_second(now=1031.0) == 1.0
    assert counter.total(now=1060.0) == 30  # the first add is 60 s old
    assert counter.total(now=1200.0) == 0


def test_rolling_counter_reuses_stale_buckets() -> None:
    counter = RollingCounter(10)
    counter.add(5, now=3.0)
    counter.add(7, now=13.0)  # same bucket, ten seconds later
    assert counter.total(now=13.0) == 7
