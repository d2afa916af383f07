"""The web client's pages without a browser: CSP, no inline code, guest ids, the schema file,
the profile page and the vendored protobuf.js."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from rooms.pages import PROTOCOL_FILE
from users.guests import GUEST_COOKIE, guest_id_from_cookie, is_guest_id
from users.models import User

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-passphrase-1"
PAGES = [
    "/",
    "/r/lobby",
    "/r/Jazz%20corner",
    "/accounts/login/",
    "/accounts/register/",
    "/api/docs/",
    "/api/v1/rooms/",
    "/protocol/v1.proto",
    "/admin/login/",
    "/static/css/site.css",
]
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
_STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)


def _policy(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def _assert_no_inline_code(html: str, where: str) -> None:
    for attributes, body in _SCRIPT.findall(html):
        assert "src=" in attributes, f"inline <script> in {where}"
        assert not body.strip(), f"<script> with a body in {where}"
    assert not _HANDLER.search(html), f"on*= handler attribute in {where}"
    assert not _STYLE_ATTRIBUTE.search(html), f"style= attribute in {where}"
    assert not re.search(r"<style[\s>]", html, re.I), f"inline <style> in {where}"


@pytest.mark.parametrize("url", PAGES)
def test_every_page_sends_a_csp_without_inline_scripts(db: None, url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 200, url
    policy = _policy(response["Content-Security-Policy"])
    for directive in ("script-src", "style-src", "connect-src", "default-src"):
        assert policy[directive] == ["'self'"], (url, directive, policy)
    for sources in policy.values():
        assert "'unsafe-inline'" not in sources
        assert "'unsafe-eval'" not in sources
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_signed_in_pages_send_a_csp(make_user: Callable[..., User]) -> None:
    make_user("alice")
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    for url in ("/", "/r/lobby", "/accounts/profile/"):
        response = client.get(url)
        assert response.status_code == 200
        assert "'self'" in _policy(response["Content-Security-Policy"])["script-src"]


def test_templates_have_no_inline_scripts_styles_or_handlers() -> None:
    templates = sorted((REPO / "templates").rglob("*.html"))
    assert len(templates) >= 6
    for template in templates:
        _assert_no_inline_code(template.read_text(), str(template.relative_to(REPO)))


def test_rendered_pages_have_no_inline_scripts_or_handlers(
    make_user: Callable[..., User],
) -> None:
    make_user("alice")
    signed_in = Client()
    assert signed_in.login(username="alice", password=PASSWORD)
    for client in (Client(), signed_in):
        for url in ("/", "/r/lobby", "/accounts/login/", "/accounts/register/", "/api/docs/"):
            _assert_no_inline_code(client.get(url).content.decode(), url)
    _assert_no_inline_code(signed_in.get("/accounts/profile/").content.decode(), "profile")


def test_swagger_ui_start_up_script_is_a_separate_file(db: None) -> None:
    page = Client().get("/api/docs/").content.decode()
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert any("script" in src and src.startswith("/api/docs/") for src in scripts)
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def _guest_id(client: Client) -> str | None:
    cookie = client.cookies.get(GUEST_COOKIE)
    return guest_id_from_cookie(cookie.value if cookie is not None else None)


def test_anonymous_visit_gets_a_signed_guest_cookie(db: None) -> None:
    client = Client()
    client.get("/")
    guest_id = _guest_id(client)
    assert guest_id is not None
    assert is_guest_id(guest_id)
    assert client.cookies[GUEST_COOKIE]["httponly"]
    client.get("/r/lobby")
    client.get("/")
    assert _guest_id(client) == guest_id  # the same guest on every page
    other = Client()
    other.get("/r/lobby")
    assert _guest_id(other) not in (None, guest_id)


def test_anonymous_page_views_store_no_session_rows(db: None) -> None:
    for path in ("/", "/r/lobby", "/r/somewhere", "/accounts/login/", "/status/"):
        for _ in range(3):
            assert Client().get(path).status_code == 200
    assert Session.objects.count() == 0


def test_signed_in_visit_gets_no_guest_cookie(make_user: Callable[..., User]) -> None:
    make_user("alice")
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    client.get("/")
    client.get("/r/lobby")
    assert GUEST_COOKIE not in client.cookies


@pytest.mark.parametrize("value", ["not-a-guest", "g-0123456789abcdef", "g-x:forged"])
def test_a_forged_or_broken_guest_cookie_is_replaced(db: None, value: str) -> None:
    client = Client()
    client.cookies[GUEST_COOKIE] = value
    client.get("/r/lobby")
    guest_id = _guest_id(client)
    assert guest_id is not None
    assert guest_id != "g-0123456789abcdef"


def test_protocol_schema_is_the_file_the_server_uses(db: None) -> None:
    response = Client().get("/protocol/v1.proto")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.getvalue() == PROTOCOL_FILE.read_bytes()
    assert Client().head("/protocol/v1.proto").status_code == 200
    assert Client().post("/protocol/v1.proto").status_code == 405


def test_room_page_names_the_room_as_text(db: None) -> None:
    html = Client().get("/r/%3Cb%3Ebold%3C%2Fb%3E").content.decode()
    assert 'data-room-name="&lt;b&gt;bold&lt;/b&gt;"' in html
    assert "<b>bold</b>" not in html


@pytest.mark.parametrize("path", ["/r/" + "x" * 65, "/r/%20%20"])
def test_room_page_refuses_impossible_names(db: None, path: str) -> None:
    assert Client().get(path).status_code == 404


def test_pages_load_only_files_that_exist(db: None) -> None:
    for url in ("/", "/r/lobby"):
        html = Client().get(url).content.decode()
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert Client().get(asset).status_code == 200, asset


def test_profile_page_requires_login(db: None) -> None:
    response = Client().get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_profile_page_saves_name_and_colour(make_user: Callable[..., User]) -> None:
    user = make_user("alice", display_name="Alice", color="#112233")
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="alice", password=PASSWORD)
    page = client.get("/accounts/profile/").content.decode()
    assert 'value="#112233"' in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/accounts/profile/",
        {
            "csrfmiddlewaretoken": token.group(1),
            "display_name": "Alice Keys",
            "color": "#AA00FF",
            "status_text": "practising",
            "bio": "",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    saved = (user.display_name, user.color, user.status_text)
    assert saved == ("Alice Keys", "#aa00ff", "practising")
    assert "Profile saved." in client.get("/accounts/profile/").content.decode()


def test_profile_page_rejects_a_bad_colour(make_user: Callable[..., User]) -> None:
    user = make_user("alice", color="#112233")
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    response = client.post("/accounts/profile/", {"display_name": "A", "color": "red"})
    assert response.status_code == 200
    assert 'class="field field-invalid"' in response.content.decode()
    user.refresh_from_db()
    assert user.color == "#112233"


def test_vendored_protobufjs_is_the_pinned_version_with_its_licence() -> None:
    makefile = (REPO / "Makefile").read_text()
    pin = re.search(r"^PROTOBUFJS_VERSION := (\S+)$", makefile, re.M)
    assert pin
    vendor = REPO / "static" / "vendor" / "protobufjs"
    header = (vendor / "protobuf.min.js").read_text()[:200]
    assert f"protobuf.js v{pin.group(1)}" in header
    assert (
        "BSD" in (vendor / "LICENSE").read_text()
        or "Redistribution" in (vendor / "LICENSE").read_text()
    )
