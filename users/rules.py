"""Pure rules for accounts: name and profile text checks, role ranks.

No Django or I/O here, so the rules are unit-tested without a database. Each ``*_problem``
function returns a message describing what is wrong, or None when the value is acceptable.
"""

from __future__ import annotations

import re
import unicodedata

DISPLAY_NAME_MAX = 32
STATUS_TEXT_MAX = 128
BIO_MAX = 2000
USERNAME_MIN = 3
USERNAME_MAX = 32

# ASCII only: usernames appear in URLs and must not be spoofable with look-alike letters.
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
RESERVED_USERNAMES = frozenset(
    {"me", "admin", "administrator", "moderator", "system", "root", "lobby", "pianorhythm"}
)

# Ranks for "who may moderate whom": a higher rank outranks a lower one.
RANK_MEMBER = 0
RANK_MODERATOR = 1
RANK_ADMIN = 2


def normalize_text(value: str) -> str:
    """NFC-normalise and strip surrounding whitespace, so equal-looking text is equal."""
    return unicodedata.normalize("NFC", value).strip()


def _hidden_character(value: str, allow_newlines: bool) -> str | None:
    """The first control, format (bidi, zero-width) or separator character, if any."""
    for char in value:
        if allow_newlines and char == "\n":
            continue
        # isprintable() is False for categories Cc, Cf, Cs, Co, Cn, Zl, Zp and every
        # space but " ": that covers bidi overrides, zero-width joiners and the like.
        if not char.isprintable():
            return char
    return None


def _text_problem(value: str, limit: int, what: str, allow_newlines: bool = False) -> str | None:
    if len(value) > limit:
        return f"{what} must be at most {limit} characters."
    char = _hidden_character(value, allow_newlines)
    if char is not None:
        return f"{what} must not contain control or invisible characters (U+{ord(char):04X})."
    return None


def display_name_problem(name: str) -> str | None:
    """Display names: at most 32 printable characters; empty means "use the username"."""
    return _text_problem(name, DISPLAY_NAME_MAX, "Display name")


def status_text_problem(text: str) -> str | None:
    return _text_problem(text, STATUS_TEXT_MAX, "Status")


def bio_problem(text: str) -> str | None:
    return _text_problem(text.replace("\r\n", "\n"), BIO_MAX, "Bio", allow_newlines=True)


def color_problem(color: str) -> str | None:
    if not _COLOR_RE.match(color):
        return "Use a colour like #1a2b3c."
    return None


def username_problem(username: str) -> str | None:
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return f"Usernames have {USERNAME_MIN} to {USERNAME_MAX} characters."
    if not _USERNAME_RE.match(username):
        return "Use only letters A-Z, digits, dots, dashes and underscores."
    lowered = username.lower()
    if lowered in RESERVED_USERNAMES or lowered.startswith("guest"):
        return "That username is reserved."
    return None


def role_rank(role: str, is_superuser: bool) -> int:
    if is_superuser or role == "ADMIN":
        return RANK_ADMIN
    if role == "MODERATOR":
        return RANK_MODERATOR
    return RANK_MEMBER


def may_moderate(actor_rank: int, target_rank: int, is_self: bool) -> bool:
    """Whether an actor may site-ban, unban or change the role of a target.

    Nobody acts on themselves; moderators act only on those they outrank; admins on anyone.
    """
    if is_self or actor_rank < RANK_MODERATOR:
        return False
    return actor_rank == RANK_ADMIN or actor_rank > target_rank
