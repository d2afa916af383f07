"""A live server (the e2e suite's Daphne fixture) and headless Debian Chromium via Playwright.

Every browser page records its console errors and uncaught exceptions; a test fails if any
appeared, which also catches Content-Security-Policy violations (Chromium reports each one
as a console error).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.e2e import conftest as e2e
from tests.e2e.conftest import ServerProcess

# The e2e suite's server fixtures (Daphne unless E2E_INTERFACE says otherwise) and its hook
# that shows the servers' output on failure.
server_process = e2e.server_process
e2e_var_dir = e2e.e2e_var_dir
e2e_interface = e2e.e2e_interface
pytest_runtest_makereport = e2e.pytest_runtest_makereport

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "a-long-passphrase-1"
TIMEOUT_MS = 10_000
_names = itertools.count(1)


# Module scope, not session: while Playwright's sync API runs, its event loop is the thread's
# running loop, and Django refuses database work (SynchronousOnlyOperation) in later tests.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def web_server(server_process: Callable[..., ServerProcess]) -> ServerProcess:
    """One Daphne with the embedded defaults (SQLite, in-memory layer), like `make run`."""
    server: ServerProcess = server_process()
    return server


class Player:
    """One browser context (its own cookies: a separate player) with one page."""

    def __init__(self, context: BrowserContext, server: ServerProcess) -> None:
        self.context = context
        self.server = server
        self.page: Page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def goto(self, path: str) -> Page:
        self.page.goto(self.server.url + path)
        return self.page

    def register(self, username: str | None = None, display_name: str = "") -> str:
        """Create an account through the register page; the player is then signed in."""
        username = username or f"player{next(_names)}{uuid.uuid4().hex[:4]}"
        page = self.goto("/accounts/register/")
        page.fill("#id_username", username)
        page.fill("#id_display_name", display_name)
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", PASSWORD)
        page.click("#main form button[type=submit]")
        page.wait_for_url(self.server.url + "/")
        return username

    def set_colour(self, colour: str) -> None:
        """Pick a colour on the profile page (signed-in players)."""
        page = self.goto("/accounts/profile/")
        page.fill("#id_color", colour)
        page.click("#main form button[type=submit]")
        page.wait_for_selector(".message-success")

    def enter(self, room: str) -> Page:
        """Open a room's page and wait until the server has let us in."""
        page = self.goto(f"/r/{room}")
        page.wait_for_selector("#room[data-joined=true]")
        return page

    def create_room(self, name: str, password: str = "") -> Page:
        """Create a room with the lobby's form (signed-in players) and wait to be in it."""
        page = self.goto("/")
        page.fill("#room-name", name)
        if password:
            page.fill("#room-password", password)
        page.click("#create-room button[type=submit]")
        page.wait_for_selector("#room[data-joined=true]")
        return page


@pytest.fixture
def players(browser: Browser, web_server: ServerProcess) -> Iterator[Callable[[], Player]]:
    """Factory of players (browser contexts at 1280x720) on the live server. At teardown a
    test fails if any page logged an error or broke the Content-Security-Policy."""
    made: list[Player] = []

    def make() -> Player:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        player = Player(context, web_server)
        made.append(player)
        return player

    yield make
    problems = [problem for player in made for problem in player.problems]
    for player in made:
        player.context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def browser_phone(browser: Browser, web_server: ServerProcess) -> Iterator[Page]:
    """The lobby room on a phone-size touch screen (390x844)."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    player = Player(context, web_server)
    page = player.enter("lobby")
    yield page
    problems = player.problems
    context.close()
    assert not problems, "\n".join(problems)
