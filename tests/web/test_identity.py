"""Who is who in a room: every guest has a colour of its own (docs/protocol.md, "UserInfo"),
so two guests' notes light keys in two colours."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from .conftest import Player

pytestmark = pytest.mark.e2e

OLD_GUEST_GREY = "#8a8f98"


def _key(midi: int) -> str:
    return f'#piano .key[data-midi="{midi}"]'


def _lit_colour(page: Page, midi: int) -> str:
    return str(page.eval_on_selector(_key(midi), "k => k.style.getPropertyValue('--lit')"))


def _remote_colour(player: Page, listener: Page, midi: int) -> str:
    """The colour ``listener`` lights ``midi`` in while ``player`` holds it."""
    player.hover(_key(midi))
    player.mouse.down()
    expect(listener.locator(_key(midi))).to_have_class("key white lit lit-remote")
    colour = _lit_colour(listener, midi)
    player.mouse.up()
    expect(listener.locator(_key(midi))).to_have_class("key white")
    return colour


def test_two_guests_notes_light_keys_in_two_colours(players: Callable[[], Player]) -> None:
    room = f"Guests {uuid.uuid4().hex[:6]}"
    owner = players()
    owner.register(display_name="Owner")
    o = owner.create_room(room)
    one, two = players().enter(room), players().enter(room)
    expect(o.locator("#member-list .member")).to_have_count(3)

    first = _remote_colour(one, o, 60)
    second = _remote_colour(two, o, 64)
    assert first != second
    assert OLD_GUEST_GREY not in (first, second)
    # Each guest sees the other's notes in the same colour the owner does.
    assert _remote_colour(one, two, 67) == first
    assert _remote_colour(two, one, 72) == second
