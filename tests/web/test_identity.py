"""Who is who in a room: every guest has a colour of its own (docs/protocol.md, "UserInfo"),
so two guests' notes light keys in two colours."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

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


def _member(name: str) -> str:
    return f'#member-list .member:has(.member-name:text-is("{name}"))'


def test_a_guest_changes_name_and_colour_in_the_room_and_the_others_see_it(
    players: Callable[[], Player],
) -> None:
    room = f"You {uuid.uuid4().hex[:6]}"
    owner = players()
    owner.register(display_name="Owner")
    o = owner.create_room(room)
    g = players().enter(room)
    expect(o.locator("#member-list .member")).to_have_count(2)

    g.click("#you-button")
    dialog = g.locator("#you-dialog")
    expect(dialog).to_be_visible()
    # A name that passes for another guest's is refused, beside the name field.
    g.fill("#you-name", "Guest-1234")
    g.click("#you-save")
    refusal = dialog.locator('[data-error-for="display_name"]')
    expect(refusal).to_be_visible()
    expect(refusal).not_to_be_empty()
    expect(dialog).to_be_visible()

    g.fill("#you-name", "Melody")
    g.eval_on_selector("#you-color", "input => { input.value = '#2255cc'; }")
    g.click("#you-save")
    expect(dialog).to_be_hidden()
    expect(o.locator(_member("Melody"))).to_be_visible()
    expect(g.locator(_member("Melody"))).to_be_visible()
    assert _remote_colour(g, o, 60) == "#2255cc"
    # Their own keys light in it too.
    g.hover(_key(62))
    g.mouse.down()
    assert _lit_colour(g, 62) == "#2255cc"
    g.mouse.up()


def test_a_change_on_the_profile_page_reaches_the_room_already_open(
    players: Callable[[], Player],
) -> None:
    room = f"Profile {uuid.uuid4().hex[:6]}"
    owner = players()
    owner.register(display_name="Owner")
    o = owner.create_room(room)
    g = players().enter(room)
    expect(g.locator(_member("Owner"))).to_be_visible()

    # The profile page in another tab of the same browser, the room still open in the first.
    profile = owner.context.new_page()
    profile.goto(owner.server.url + "/accounts/profile/")
    profile.fill("#id_display_name", "Maestra")
    profile.fill("#id_color", "#cc2277")
    profile.click("#main form button[type=submit]")
    profile.wait_for_selector(".message-success")

    expect(g.locator(_member("Maestra"))).to_be_visible()
    expect(o.locator(_member("Maestra"))).to_be_visible()
    assert _remote_colour(o, g, 60) == "#cc2277"


def test_a_guests_chosen_name_and_colour_outlast_a_reconnect(
    players: Callable[[], Player],
) -> None:
    room = f"Again {uuid.uuid4().hex[:6]}"
    owner = players()
    owner.register(display_name="Owner")
    o = owner.create_room(room)
    guest = players()
    # The guest's sockets pass through the test, which can drop them.
    sockets: list[WebSocketRoute] = []

    def relay(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    guest.page.route_web_socket("**/ws/**", relay)
    g = guest.enter(room)
    g.click("#you-button")
    g.fill("#you-name", "Melody")
    g.eval_on_selector("#you-color", "input => { input.value = '#2255cc'; }")
    g.click("#you-save")
    expect(o.locator(_member("Melody"))).to_be_visible()

    session = g.get_attribute("#room", "data-session-id")
    sockets[-1].close()
    g.wait_for_function(
        """session => {
          const room = document.getElementById("room");
          return room.dataset.sessionId !== session && room.dataset.joined === "true";
        }""",
        arg=session,
    )
    assert len(sockets) == 2
    expect(o.locator("#member-list .member")).to_have_count(2)
    expect(o.locator(_member("Melody"))).to_be_visible()
    assert _remote_colour(g, o, 60) == "#2255cc"
