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


# --- names that pass for others (hardening 17) ------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Moderator",
        "MODERATOR",
        "\u041c\u043ed\u0435r\u0430t\u043er",  # Cyrillic capital M and small o, e, a
        "\uff2d\uff4f\uff44\uff45\uff52\uff41\uff54\uff4f\uff52",  # full-width
        "\U0001d400\U0001d41d\U0001d426\U0001d422\U0001d427",  # mathematical bold
        "\u0430dmin",  # a Cyrillic small a
        "adm1n",
        "rnoderator",
        "Mo derator",
        "s t a f f",
        "Guest-1a2b",
        "guest 9f3c",
    ],
)
def test_names_that_pass_for_staff_or_a_guest_are_refused(name: str) -> None:
    assert rules.display_name_problem(name) is not None


@pytest.mark.parametrize("name", ["\u3164", "\u2800\u2800", "Ann\u3164", "\u115f", " ", "\u0301"])
def test_names_that_look_blank_or_padded_are_refused(name: str) -> None:
    assert rules.display_name_problem(name) is not None


@pytest.mark.parametrize(
    "name", ["Zoë", "日本の太郎", "🎹 Ada", "Admiral", "Badminton", "Modesty", "Ann-Marie", "DJ 5"]
)
def test_ordinary_names_in_any_script_are_fine(name: str) -> None:
    assert rules.display_name_problem(name) is None


def test_look_alike_names_share_a_skeleton() -> None:
    skeleton = rules.name_skeleton
    assert skeleton("alice") == skeleton("ALICE") == skeleton("\u0430lice") == skeleton("a1ice")
    assert skeleton("bob") != skeleton("rob")
    assert rules.username_key("Alice") == skeleton("alice")


@pytest.mark.parametrize("username", ["adm1n", "m0derator", "staff", "moderators"])
def test_usernames_that_pass_for_staff_are_reserved(username: str) -> None:
    assert rules.username_problem(username) == "That username is reserved."


@pytest.mark.parametrize(
    "name",
    [
        "\u1d0d\u1d0f\u1d05\u1d07\u0280\u1d00\u1d1b\u1d0f\u0280",  # small capitals: moderator
        "\u1d00\u1d05\u1d0d\u026a\u0274",  # small capitals: admin
        "\u0251dmin",  # Latin alpha
        "adm\u0131n",  # dotless i
        "\ua731taff",  # small capital s
        "\u0280oot",
        "\u0262uest-1a2b",  # small capital g
        "Guest\u20101a2b",  # a hyphen that is not "-"
        "Guest\u20141a2b",  # an em dash
        "\u00e0dmin",  # an accent does not make it another word
        "adm\u0268n",  # i with a stroke
        "\U0001f170dmin",  # a negative squared A
        "Moderator!",  # a mark that is not a letter is no disguise
        "m.o.d",
        "Guest-\u0661\u0662\u0663\u0664",  # Arabic-Indic digits
        "Guest-\u0967a2b",  # a Devanagari one
        "Guest-10O5",
        "s\u028bpport",  # a v with a hook reads as a u
        "sta\u1e9d\u1e9d",  # long s with a high stroke: an f
        "G\u028best-1a2b",
    ],
)
def test_latin_look_alikes_of_reserved_names_are_refused(name: str) -> None:
    assert rules.display_name_problem(name) is not None


def test_letters_with_strokes_hooks_and_other_digits_share_a_skeleton() -> None:
    skeleton = rules.name_skeleton
    assert skeleton("a\u0142ice") == skeleton("alice")  # l with a stroke
    assert skeleton("\u0257ave") == skeleton("dave")  # d with a hook
    assert skeleton("claire") == skeleton("daire")  # cl and d, side by side
    assert skeleton("bob\u0663") == skeleton("bob3")
    assert skeleton("a.l-i_c'e") == skeleton("alice")
    assert skeleton("o\u026fner1") == skeleton("owner1")  # a turned m reads as a w


def test_latin_look_alikes_share_a_skeleton_with_the_plain_name() -> None:
    assert rules.name_skeleton("\u0251lice") == rules.name_skeleton("alice")
    assert rules.name_skeleton("\u1d00lice") == rules.name_skeleton("alice")
    assert rules.name_skeleton("d\u0251ve") == rules.name_skeleton("dave")


@pytest.mark.parametrize("color", ["#123456\n", "#123456 ", " #123456", "#1234567", "123456"])
def test_a_colour_is_exactly_a_hex_colour(color: str) -> None:
    assert rules.color_problem(color) is not None


@pytest.mark.parametrize("username", ["alice\n", "alice\r\n", "al ice"])
def test_a_username_with_a_line_break_or_space_is_refused(username: str) -> None:
    assert rules.username_problem(username) is not None


# --- symbols and dash-like letters are no disguise (docs/security.md, "Names") ----------------


@pytest.mark.parametrize(
    "name",
    [
        "Guest\u25001a2b",  # box drawings light horizontal
        "Guest\u23af1a2b",  # horizontal line extension
        "Guest\u30fc1a2b",  # the katakana prolonged sound mark
        "Guest\u4e001a2b",  # the ideograph one
        "Guest\u31611a2b",  # Hangul letter eu
        "Guest+1a2b",
        "Guest~1a2b",
        "Guest=1a2b",
    ],
)
def test_names_like_a_guests_in_any_dash_or_symbol_are_refused(name: str) -> None:
    assert rules.display_name_problem(name) is not None


@pytest.mark.parametrize(
    "name", ["admin\u2122", "Staff\u2120", "mod\u2713", "\u2605admin\u2605", "Moderator \u266a"]
)
def test_symbols_beside_a_reserved_name_are_no_disguise(name: str) -> None:
    assert rules.display_name_problem(name) == "That name is reserved."


def test_symbols_and_dash_like_letters_are_no_disguise_in_a_skeleton() -> None:
    skeleton = rules.name_skeleton
    plain = skeleton("bobsmithexv")
    assert skeleton("bobsmithexv\u2122") == plain  # a trade mark sign: TM written small
    assert skeleton("bob\u2219smithexv") == plain  # a bullet operator
    assert skeleton("bob+smithexv") == plain
    assert skeleton("bob\u4e00smithexv") == skeleton("bob\u30fcsmithexv") == plain
    assert skeleton("bob\u2500smithexv") == skeleton("bob\u23afsmithexv") == plain


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("\u24c2\u24de\u24d3", "mod"),  # circled letters
        ("\u249cdmin", "admin"),  # a parenthesized a
        ("\U0001f130dmin", "admin"),  # a squared A
        ("\u2228ave", "vave"),  # a logical "or" is a v
    ],
)
def test_symbols_that_are_letters_in_another_shape_still_read_as_letters(
    name: str, plain: str
) -> None:
    assert rules.name_skeleton(name) == rules.name_skeleton(plain)


@pytest.mark.parametrize(
    "name",
    [
        "\u4e00\u90ce",  # Ichiro
        "\u5c71\u7530\u4e00\u90ce",
        "\u30d4\u30a2\u30ce\u30fc",  # piano, with a prolonged sound mark
        "\u30e9\u30fc\u30e1\u30f3",
        "\u3161\u3161",
        "\u2605Ann\u2605",
        "C\u266f minor",
        "Guest\u4e00\u53f7",  # "Guest" and a CJK word: not a guest's default name
        "Ann\u2122",
    ],
)
def test_names_with_symbols_or_dash_like_letters_are_otherwise_fine(name: str) -> None:
    assert rules.display_name_problem(name) is None
