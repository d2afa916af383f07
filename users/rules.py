"""Pure rules for accounts: name and profile text checks, role ranks.

No Django or I/O here, so the rules are unit-tested without a database. Each ``*_problem``
function returns a message describing what is wrong, or None when the value is acceptable.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from confusable_homoglyphs import confusables

DISPLAY_NAME_MAX = 32
STATUS_TEXT_MAX = 128
BIO_MAX = 2000
USERNAME_MIN = 3
USERNAME_MAX = 32

# ASCII only: usernames appear in URLs and must not be spoofable with look-alike letters.
_USERNAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")
RESERVED_USERNAMES = frozenset(
    {"me", "admin", "administrator", "moderator", "system", "root", "lobby", "pianorhythm"}
)
# Names no player may appear as, whatever the letters they are spelt with: they claim an
# authority or a role the player does not have.
RESERVED_NAMES = RESERVED_USERNAMES | frozenset(
    {"mod", "mods", "staff", "server", "official", "support", "admins", "moderators"}
)
# A default guest name ("Guest-1a2b"), as its skeleton ("guestla2b": 1 is l, 0 is o, 5 is s;
# the dash, or a symbol or a "ー" in its place, is dropped): nobody may choose one and pass
# for another guest (docs/security.md, "Names").
_GUEST_SKELETON_RE = re.compile(r"guest[0-9a-flos]{4}")

# Characters that look like nothing or like a space: Hangul fillers, the braille blank,
# and the like. Names use them to look empty or to pad themselves into another's shape.
BLANK_LOOKING = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u180e\u200b\u2060\ufeff\u034f\u17b4\u17b5"
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
    """Display names: at most 32 printable characters that show as something, and not a
    reserved name in any spelling; empty means "use the username"."""
    problem = _text_problem(name, DISPLAY_NAME_MAX, "Display name")
    if problem is not None or not name:
        return problem
    return invisible_name_problem(name) or reserved_name_problem(name)


def invisible_name_problem(name: str) -> str | None:
    """Why ``name`` would look blank or padded (filler characters, nothing visible), or None."""
    if any(char in BLANK_LOOKING for char in name):
        return "Names cannot use characters that look like blanks."
    if not any(unicodedata.category(char)[0] in "LNPS" and not char.isspace() for char in name):
        return "A name needs at least one visible letter, digit or symbol."
    return None


def reserved_name_problem(name: str) -> str | None:
    """Why ``name`` passes for a reserved name or a default guest name, or None."""
    # Also with every mark that is not a letter or a digit left out: "!" and "|" are strokes
    # in a skeleton, yet "Moderator!" is still "Moderator".
    letters = "".join(char for char in plain_form(name) if char.isalnum())
    if {name_skeleton(name), name_skeleton(letters)} & _RESERVED_SKELETONS:
        return "That name is reserved."
    if _GUEST_SKELETON_RE.fullmatch(name_skeleton(name)):
        return "Names like a guest's (Guest-1a2b) are reserved for guests."
    return None


# Look-alikes within ASCII, after the letters of other scripts have been mapped to theirs:
# what a reader cannot tell apart in a player list (I, l, 1, i and | are one stroke).
_ASCII_FOLDS = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("0", "o"), ("5", "s"))
_STROKES = str.maketrans({"i": "l", "1": "l", "|": "l", "!": "l"})


# The letter a Latin letter of another shape is: "LATIN SMALL LETTER L WITH STROKE" is an l,
# "LATIN LETTER SMALL CAPITAL R" an r, "NEGATIVE SQUARED LATIN CAPITAL LETTER A" an a: the
# first one-letter word after LETTER.
_LETTER_NAME_RE = re.compile(r"\bLATIN\b.*?\bLETTER (?:[A-Z]+ )*?([A-Z])(?: |$)")


@functools.lru_cache(maxsize=4096)
def _latin_look_alike(char: str) -> str:
    """The ASCII character(s) that ``char`` looks like, or ``char`` itself.

    Dashes are "-"; digits of any script are the ASCII digit; then Unicode's confusables
    data decides where it knows an ASCII look-alike; Latin letters it does not know (small
    capitals, letters with a stroke or a hook) are the letter their Unicode name gives.
    """
    if char.isascii():
        return char
    if unicodedata.category(char) == "Pd":
        return "-"
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    confused = _confusable_ascii(char)
    if confused is not None:
        return confused
    named = _LETTER_NAME_RE.search(unicodedata.name(char, ""))
    if named is not None:
        return named.group(1).lower()
    return char


def _confusable_ascii(char: str) -> str | None:
    """What Unicode's confusables data says ``char`` looks like in ASCII (from one look-alike
    to the next, a few steps at most), or None. It comes before the letter a character's name
    gives: a turned m (U+026F) reads as a w, a long s with a stroke (U+1E9D) as an f."""
    seen = {char}
    frontier = [char]
    for _step in range(3):
        following: list[str] = []
        for current in frontier:
            for homoglyph in confusables.confusables_data.get(current, ()):
                candidate = str(homoglyph["c"])
                if candidate.isascii() and candidate.strip():
                    return candidate
                if candidate not in seen:
                    seen.add(candidate)
                    following.append(candidate)
        frontier = following
    return None


@functools.lru_cache(maxsize=4096)
def _looks_like_a_dash(char: str) -> bool:
    """Whether ``char`` is a dash or, by Unicode's confusables data, looks like one (it or
    its look-alikes, or theirs): the katakana prolonged sound mark (U+30FC) is an em dash,
    and the ideograph one (U+4E00), Hangul eu (U+3161) and box drawings' horizontal line are
    that mark. A dash written vertically (U+FE31, a presentation form) is none, nor is the
    vertical bar that looks like it."""
    seen = {char}
    frontier = [char]
    for _step in range(3):
        following: list[str] = []
        for current in frontier:
            if unicodedata.category(current) == "Pd":
                if not unicodedata.decomposition(current).startswith("<vertical>"):
                    return True
                continue
            for homoglyph in confusables.confusables_data.get(current, ()):
                candidate = str(homoglyph["c"])
                if len(candidate) == 1 and candidate not in seen:
                    seen.add(candidate)
                    following.append(candidate)
        frontier = following
    return False


def _small_sign(char: str) -> bool:
    """Whether ``char`` is a symbol written as small raised or lowered letters: the trade
    mark sign (U+2122) is a raised TM, the service mark a raised SM. It is a sign beside a
    name, not letters of it, so it is not unfolded into them."""
    return unicodedata.category(char)[0] == "S" and unicodedata.decomposition(char).startswith(
        ("<super>", "<sub>")
    )


def _unfold(char: str) -> str:
    """``char`` decomposed (NFKD); "-" if it, or the one character it unfolds to, looks like
    a dash on its own. A stroke within a composed syllable is no dash: the eu of 그 is not."""
    if _small_sign(char):
        return char
    unfolded = unicodedata.normalize("NFKD", char)
    if len(unfolded) == 1 and _looks_like_a_dash(unfolded):
        return "-"
    return unfolded


def plain_form(name: str) -> str:
    """``name`` decomposed (NFKD: compatibility forms unfolded, accents apart), accents and
    invisible format characters dropped, look-alikes of other shapes as ASCII, lower case.
    What looks like a dash on its own is "-"; signs written as small letters (™, ℠) stay
    signs (``_unfold``)."""
    text = "".join(_unfold(char) for char in name)
    text = "".join(
        _latin_look_alike(char)
        for char in text
        if unicodedata.category(char) not in ("Cf", "Mn", "Me")
    )
    return text.lower()


def name_skeleton(name: str) -> str:
    """(Stored for every username as ``User.name_key``: a change to how skeletons are made
    needs a data migration that recomputes them.)

    What ``name`` looks like, for telling look-alike names apart (after Unicode TR39's
    skeletons): compatibility forms unfolded (full-width and mathematical letters), letters
    of other scripts mapped to the Latin ones they look like, spaces, marks and separators
    dropped, case and ASCII look-alikes (rn/m, cl/d, 0/o, I/l/1/i/|) folded, punctuation and
    symbols dropped: dashes and what looks like one (ー, 一), +, =, ~, ™, ✓ and box drawing
    are no disguise. A symbol that is a letter or a digit in another shape (a circled M, a
    squared A, a logical "or" for a v) counts as that letter first. Two names look alike
    when their skeletons are equal."""
    text = plain_form(name).translate(_STROKES)
    text = "".join(
        char
        for char in text
        if not char.isspace() and unicodedata.category(char)[0] not in ("P", "S")
    )
    for look_alike, letter in _ASCII_FOLDS:
        text = text.replace(look_alike, letter)
    return text


_RESERVED_SKELETONS = frozenset(name_skeleton(word) for word in RESERVED_NAMES)


def username_key(username: str) -> str:
    """The skeleton a username is stored under: display names and new usernames are
    compared with it."""
    return name_skeleton(username)


def status_text_problem(text: str) -> str | None:
    return _text_problem(text, STATUS_TEXT_MAX, "Status")


def bio_problem(text: str) -> str | None:
    return _text_problem(text.replace("\r\n", "\n"), BIO_MAX, "Bio", allow_newlines=True)


def color_problem(color: str) -> str | None:
    if not _COLOR_RE.fullmatch(color):
        return "Use a colour like #1a2b3c."
    return None


def username_problem(username: str) -> str | None:
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return f"Usernames have {USERNAME_MIN} to {USERNAME_MAX} characters."
    if not _USERNAME_RE.fullmatch(username):
        return "Use only letters A-Z, digits, dots, dashes and underscores."
    lowered = username.lower()
    if lowered in RESERVED_USERNAMES or lowered.startswith("guest"):
        return "That username is reserved."
    if name_skeleton(username) in _RESERVED_SKELETONS:
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
