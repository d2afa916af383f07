"""The pure account rules, without a database."""

from __future__ import annotations

import pytest

from users import rules


@pytest.mark.parametrize(
    "name",
    [
        "Ann\u202eevil",  # right-to-left override
        "zero\u200bwidth",
        "join\u200dme",
        "bom\ufeff",
        "tab\tname",
        "new\nline",
        "nbsp\u00a0name",
        "x" * 33,
    ],
)
def test_display_name_rejects_hidden_characters_and_long_names(name: str) -> None:
    assert rules.display_name_problem(name) is not None


@pytest.mark.parametrize("name", ["", "Ann", "Zoë the Pianist", "鋼琴家", "🎹 keys", "x" * 32])
def test_display_name_accepts_printable_names(name: str) -> None:
    assert rules.display_name_problem(name) is None


def test_bio_allows_newlines_but_not_bidi_controls() -> None:
    assert rules.bio_problem("line one\nline two") is None
    assert rules.bio_problem("evil\u2067text") is not None


@pytest.mark.parametrize("color", ["#1a2B3c", "#000000"])
def test_color_accepts_hex_triplets(color: str) -> None:
    assert rules.color_problem(color) is None


@pytest.mark.parametrize("color", ["red", "#12345", "#1234567", "123456", "#ggg000"])
def test_color_rejects_anything_else(color: str) -> None:
    assert rules.color_problem(color) is not None


@pytest.mark.parametrize(
    "username", ["ab", "me", "Admin", "guest-1234", "ünïcode", "a b", "x" * 33]
)
def test_username_rejects_short_reserved_and_non_ascii_names(username: str) -> None:
    assert rules.username_problem(username) is not None


def test_username_accepts_plain_names() -> None:
    assert rules.username_problem("piano_man-2.0") is None


def test_role_rank_treats_superusers_as_admins() -> None:
    assert rules.role_rank("MEMBER", is_superuser=True) == rules.RANK_ADMIN
    assert rules.role_rank("MODERATOR", is_superuser=False) == rules.RANK_MODERATOR
    assert rules.role_rank("MEMBER", is_superuser=False) == rules.RANK_MEMBER


@pytest.mark.parametrize(
    ("actor", "target", "is_self", "allowed"),
    [
        (rules.RANK_MODERATOR, rules.RANK_MEMBER, False, True),
        (rules.RANK_MODERATOR, rules.RANK_MODERATOR, False, False),
        (rules.RANK_MODERATOR, rules.RANK_ADMIN, False, False),
        (rules.RANK_ADMIN, rules.RANK_ADMIN, False, True),
        (rules.RANK_ADMIN, rules.RANK_ADMIN, True, False),
        (rules.RANK_MODERATOR, rules.RANK_MODERATOR, True, False),
        (rules.RANK_MEMBER, rules.RANK_MEMBER, False, False),
    ],
)
def test_may_moderate(actor: int, target: int, is_self: bool, allowed: bool) -> None:
    assert rules.may_moderate(actor, target, is_self) is allowed
