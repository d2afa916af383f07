"""Issue 5's end-to-end tests: two players in two browser contexts on a live Daphne.

The room page exposes test hooks instead of timing guesses: ``#room[data-joined]``, and on
``#piano`` ``data-notes-received`` (note-ons received from others) and ``data-last-note``;
a key lit by another player has the class ``lit-remote``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ServerProcess

from .conftest import Player

pytestmark = pytest.mark.e2e

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "room.png"
XSS = '<img src=x onerror="window.__xss = 1">'


def _room_name() -> str:
    return f"Room {uuid.uuid4().hex[:6]}"


def _key(page: Page, midi: int) -> str:
    return f'#piano .key[data-midi="{midi}"]'


def _notes_received(page: Page) -> int:
    return int(page.get_attribute("#piano", "data-notes-received") or 0)


def _member(page: Page, name: str) -> str:
    return f'#member-list .member:has(.member-name:text-is("{name}"))'


def test_keys_played_in_one_browser_light_and_sound_in_the_other(
    players: Callable[[], Player], artifacts: Path
) -> None:
    alice, bob = players(), players()
    alice.register(display_name="Alice")
    alice.set_colour("#2ec4b6")
    bob.register(display_name="Bob")
    bob.set_colour("#ff6b9d")
    room = _room_name()
    a = alice.create_room(room)
    b = bob.enter(room.replace(" ", "%20"))
    expect(a.locator(_member(a, "Bob"))).to_be_visible()

    # Mouse: hold middle C in A; B receives the note and lights the key in A's colour.
    a.hover(_key(a, 60))
    a.mouse.down()
    expect(b.locator(_key(b, 60))).to_have_class("key white lit lit-remote")
    assert _notes_received(b) == 1
    assert b.get_attribute("#piano", "data-last-note") == "60"
    lit_colour = b.eval_on_selector(_key(b, 60), "k => k.style.getPropertyValue('--lit')")
    own_colour = a.eval_on_selector(_key(a, 60), "k => k.style.getPropertyValue('--lit')")
    assert lit_colour == own_colour == "#2ec4b6"  # Alice's colour from her profile
    a.mouse.up()
    expect(b.locator(_key(b, 60))).to_have_class("key white")

    # Computer keyboard: Z is the lowest C of the two rows (C3); E and T on the top row are
    # E4 and G4.
    for letter in "zet":
        a.keyboard.down(letter)
    for midi in (48, 64, 67):
        expect(b.locator(_key(b, midi))).to_have_class("key white lit lit-remote")
    assert _notes_received(b) == 4
    assert b.get_attribute("#piano", "data-last-note") == "67"

    # A room with two players, while A holds a chord: the README's screenshot.
    b.locator("#chat-input").click()
    b.locator("#chat-input").fill("Nice chord!")
    b.locator("#chat-input").press("Enter")
    expect(a.locator("#chat-log .chat-text", has_text="Nice chord!")).to_be_visible()
    expect(b.locator("#chat-log .chat-text", has_text="Nice chord!")).to_be_visible()
    b.locator("#chat-input").blur()
    b.screenshot(path=str(artifacts / "room.png"))
    for letter in "zet":
        a.keyboard.up(letter)
    expect(b.locator(_key(b, 48))).to_have_class("key white")
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifacts / "room.png", DOCS_SCREENSHOT)

    # Notes go the other way too, and nobody hears their own notes back.
    b.hover(_key(b, 72))
    b.mouse.down()
    expect(a.locator(_key(a, 72))).to_have_class("key white lit lit-remote")
    b.mouse.up()
    assert _notes_received(a) == 1
    assert _notes_received(b) == 4


def test_chat_shows_the_senders_name_and_markup_as_text(players: Callable[[], Player]) -> None:
    alice, bob = players(), players()
    bob.register(display_name="Bob the Pianist")
    a = alice.enter("lobby")
    b = bob.enter("lobby")
    b.fill("#chat-input", "hello from B")
    b.press("#chat-input", "Enter")
    line = a.locator("#chat-log .chat-line", has_text="hello from B")
    expect(line.locator(".chat-name")).to_have_text("Bob the Pianist")
    expect(line.locator(".chat-time")).not_to_be_empty()
    expect(line.locator(".chat-tag")).to_have_count(0)  # an account, not staff

    # A guest's line says so, beside the name.
    a.fill("#chat-input", "hello from a guest")
    a.press("#chat-input", "Enter")
    guest_line = b.locator("#chat-log .chat-line", has_text="hello from a guest")
    expect(guest_line.locator(".chat-tag")).to_have_text("guest")

    b.fill("#chat-input", XSS)
    b.press("#chat-input", "Enter")
    text = a.locator("#chat-log .chat-text").last
    expect(text).to_have_text(XSS)
    assert a.locator("#chat-log img").count() == 0
    assert b.locator("#chat-log img").count() == 0
    assert a.evaluate("window.__xss") is None
    assert b.evaluate("window.__xss") is None

    # A late joiner gets the history, the payload still as text.
    carol = players()
    c = carol.enter("lobby")
    expect(c.locator("#chat-log .chat-text").last).to_have_text(XSS)
    assert c.locator("#chat-log img").count() == 0


def test_password_room_refuses_a_wrong_password_and_admits_the_right_one(
    players: Callable[[], Player],
) -> None:
    owner, guest = players(), players()
    owner.register()
    room = _room_name()
    owner.create_room(room, password="open sesame")

    page = guest.goto(f"/r/{room}")
    dialog = page.locator("#password-dialog")
    expect(dialog).to_be_visible()
    page.fill("#password-input", "wrong guess")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#password-error")).to_have_text("Wrong password. Try again.")
    expect(page.locator("#room")).not_to_have_attribute("data-joined", "true")

    page.fill("#password-input", "open sesame")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#room")).to_have_attribute("data-joined", "true")
    expect(dialog).to_be_hidden()
    expect(page.locator("#member-list .member")).to_have_count(2)
    expect(page.locator("#room-lock")).to_be_visible()


def test_owner_kicks_a_player_from_the_member_list(players: Callable[[], Player]) -> None:
    owner, bob = players(), players()
    owner.register(display_name="Owner")
    bob.register(display_name="Bob")
    room = _room_name()
    a = owner.create_room(room)
    b = bob.enter(room)
    expect(b.locator(_member(b, "Owner")).locator(".tag-owner")).to_be_visible()
    assert b.locator("#member-list .manage").count() == 0  # Bob may not moderate

    a.click(f"{_member(a, 'Bob')} .manage")
    expect(a.locator("#member-dialog")).to_be_visible()
    a.fill("#member-reason", "testing the kick")
    a.click('#member-dialog [data-action="KICK"]')

    expect(b.locator("#blocker-dialog")).to_be_visible()
    expect(b.locator("#blocker-heading")).to_have_text("You were kicked")
    expect(b.locator("#blocker-message")).to_contain_text("testing the kick")
    expect(a.locator(_member(a, "Bob"))).to_have_count(0)
    expect(a.locator("#member-list .member")).to_have_count(1)


def test_owner_changes_on_off_settings_in_the_room_settings_dialog(
    players: Callable[[], Player],
) -> None:
    owner, bob = players(), players()
    owner.register(display_name="Owner")
    room = _room_name()
    a = owner.create_room(room)
    b = bob.enter(room)
    expect(b.locator("#chat-input")).to_be_enabled()

    a.click("#settings-button")
    dialog = a.locator("#settings-dialog")
    expect(dialog.get_by_label("Chat on")).to_be_checked()
    expect(dialog.get_by_label("Listed in the lobby")).to_be_checked()
    expect(dialog.get_by_label("Keep the room when empty")).not_to_be_checked()
    dialog.get_by_label("Chat on").uncheck()
    a.click("#settings-save")

    # Every member hears of it (roomUpdated), and the dialog opens on the stored settings.
    expect(b.locator("#chat-input")).to_be_disabled()
    expect(a.locator("#chat-input")).to_be_disabled()
    a.click("#settings-button")
    expect(dialog.get_by_label("Chat on")).not_to_be_checked()
    expect(dialog.get_by_label("Listed in the lobby")).to_be_checked()


def test_lobby_list_updates_when_another_player_creates_a_room(
    players: Callable[[], Player], artifacts: Path
) -> None:
    watcher, creator = players(), players()
    lobby = watcher.goto("/")
    expect(lobby.locator("#lobby-status")).to_have_text("Live")
    expect(lobby.locator('.room-item[data-room-name="lobby"]')).to_be_visible()

    creator.register()
    room = _room_name()
    creator.create_room(room, password="secret words")
    item = lobby.locator(f'.room-item[data-room-name="{room}"]')
    expect(item).to_be_visible()
    expect(item.locator(".room-count")).to_have_text("1 / 20")
    expect(item.locator(".lock")).to_be_visible()
    lobby.screenshot(path=str(artifacts / "lobby.png"))

    item.locator("a").click()
    expect(lobby.locator("#password-dialog")).to_be_visible()


def test_swagger_ui_runs_under_the_content_security_policy(players: Callable[[], Player]) -> None:
    page = players().goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("PianoRhythm API")
    expect(page.locator(".opblock").first).to_be_visible()


def test_room_page_fits_a_phone(browser_phone: Page) -> None:
    page = browser_phone
    expect(page.locator("#room")).to_have_attribute("data-joined", "true")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing but the keyboard's own scroller is wider than the screen
    key = page.locator(_key(page, 60))
    expect(key).to_be_in_viewport()
    box = key.bounding_box()
    assert box is not None
    assert box["width"] >= 16  # wide enough for a finger


def test_lobby_lists_the_busiest_rooms_and_finds_the_others_by_name(
    players: Callable[[], Player], web_server: ServerProcess
) -> None:
    web_server.manage(
        "shell",
        "-c",
        "from rooms.models import Room; "
        "Room.objects.bulk_create(Room(name=f'hall {n:03}', persistent=True) for n in range(150))",
    )
    page = players().goto("/")
    expect(page.locator("#lobby-status")).to_have_text("Live")
    expect(page.locator("#room-list")).to_have_attribute("data-count", "100")
    expect(page.locator("#room-list-more")).to_be_visible()
    expect(page.locator(".room-item").first).to_have_attribute("data-room-name", "lobby")
    page.locator("#room-search").fill("hall 14")
    expect(page.locator("#room-list")).to_have_attribute("data-count", "10")
    expect(page.locator('.room-item[data-room-name="hall 149"]')).to_be_visible()
    expect(page.locator("#room-list-more")).to_be_hidden()
